import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FileAuditSink,
  GENESIS_HASH,
  VaultAuditAnchor,
  defaultAnchorPath,
  verifyAuditLog,
  type AuditEntry,
  type AuditEvent,
} from '../../src/audit';
import { VaultKvStore } from '../../src/vault';
import { TEST_AUDIT_KEY_PATH, auditEntries, testAuditSink, testAuditTrust } from '../helpers/audit';
import { testServers } from '../infra/test-servers';
import { rotator } from '../helpers/cli';
import { httpRelay } from '../helpers/http-relay';

const directory = mkdtempSync(join(tmpdir(), 'rotator-audit-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(directory, `audit-${(files += 1)}.jsonl`);

const event = (overrides: Partial<AuditEvent> = {}): AuditEvent => ({
  credentialId: 'deployer',
  workflowId: 'rotate/deployer',
  runId: 'run-1',
  event: 'issued',
  step: 'issue',
  actor: 'alice',
  reason: 'manual',
  outcome: 'ok',
  tokenId: 42,
  replacesTokenId: 41,
  vault: { staged: 3 },
  ...overrides,
});

/** A log of `count` entries, written concurrently so the sink must serialise them. */
async function logOf(count: number): Promise<{ file: string; lines: string[] }> {
  const file = freshFile();
  const sink = testAuditSink(file);
  await Promise.all(Array.from({ length: count }, (_, index) => sink.append(event({ tokenId: index + 1 }))));
  return { file, lines: readFileSync(file, 'utf8').split('\n').slice(0, -1) };
}
const rewrite = (file: string, lines: string[]) => writeFileSync(file, `${lines.join('\n')}\n`);
/** The Vault the run's key and the logs' anchors are in, as the CLI is given it. */
const VAULT = { VAULT_ADDR: testServers().vault.endpoint, VAULT_TOKEN: testServers().vault.token };

/** JSON with sorted keys, as the log writes it. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, node: unknown) =>
    typeof node === 'object' && node !== null && !Array.isArray(node)
      ? Object.fromEntries(Object.entries(node).sort(([a], [b]) => (a < b ? -1 : 1)))
      : node,
  );

/** The lines with every entry's hash recomputed as the unkeyed chain did: plain SHA-256, links redone. */
function plainChain(lines: string[]): string[] {
  let prevHash = GENESIS_HASH;
  return lines.map((line) => {
    const entry: Partial<AuditEntry> = JSON.parse(line) as AuditEntry;
    delete entry.hash;
    const linked = { ...entry, prevHash };
    prevHash = createHash('sha256').update(canonical(linked)).digest('hex');
    return canonical({ ...linked, hash: prevHash });
  });
}

describe('FileAuditSink', () => {
  it('chains JSON lines: seq from 1, the first prevHash all zeros, each prevHash the hash before', async () => {
    const { file } = await logOf(3);
    const entries = auditEntries(file);
    expect(entries.map((entry) => entry.seq)).toEqual([1, 2, 3]);
    expect(entries.map((entry) => entry.tokenId)).toEqual([1, 2, 3]);
    expect(entries[0]).toMatchObject({ ...event({ tokenId: 1 }), prevHash: GENESIS_HASH });
    expect(entries[1]?.prevHash).toBe(entries[0]?.hash);
    expect(entries[2]?.prevHash).toBe(entries[1]?.hash);
    expect(await verifyAuditLog(file, testAuditTrust(file))).toEqual({
      ok: true,
      entries: 3,
      lastHash: entries[2]?.hash,
    });
  });

  it('continues the chain after a restart, from the last entry in the file', async () => {
    const { file } = await logOf(2);
    await testAuditSink(file).append(event({ event: 'verified' }));
    expect(auditEntries(file).map((entry) => [entry.seq, entry.event])).toEqual([
      [1, 'issued'],
      [2, 'issued'],
      [3, 'verified'],
    ]);
    expect(await verifyAuditLog(file, testAuditTrust(file))).toMatchObject({ ok: true, entries: 3 });
  });

  it('refuses to extend a broken chain until the file is repaired', async () => {
    const { file, lines } = await logOf(2);
    appendFileSync(file, '{"seq":3,');
    const sink = testAuditSink(file);
    await expect(sink.append(event())).rejects.toThrow(
      `audit log ${file} is broken at line 3 (truncated: no newline at the end): nothing more is appended`,
    );
    rewrite(file, lines);
    expect(await sink.append(event())).toMatchObject({ seq: 3 });
  });

  it('is ready only while the chain is intact and the file can be written', async () => {
    const { file, lines } = await logOf(2);
    const sink = testAuditSink(file);
    await expect(sink.ready()).resolves.toBeUndefined();
    appendFileSync(file, '{"seq":3,');
    await expect(sink.ready()).rejects.toThrow(`audit log ${file} is broken at line 3`);
    rewrite(file, lines);
    await expect(sink.ready()).resolves.toBeUndefined();
    expect(await sink.append(event())).toMatchObject({ seq: 3 });
    await expect(testAuditSink(join(directory, 'missing', 'audit.jsonl')).ready()).rejects.toThrow(/ENOENT/);
  });

  it('notices an edit that keeps the file the same size, made after its own appends', async () => {
    const file = freshFile();
    const sink = testAuditSink(file);
    await sink.append(event({ actor: 'alice' }));
    await sink.append(event());
    await expect(sink.ready()).resolves.toBeUndefined();
    const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
    // Same length, so only the modification time and content tell; file times tick every few milliseconds.
    await new Promise((resolve) => setTimeout(resolve, 50));
    rewrite(file, [lines[0]?.replace('"alice"', '"alize"') ?? '', ...lines.slice(1)]);
    await expect(sink.ready()).rejects.toThrow(`audit log ${file} is broken at line 1`);
    await expect(sink.append(event())).rejects.toThrow(`audit log ${file} is broken at line 1`);
  });

  it('refuses an event with a field it does not know, such as a value', async () => {
    const file = freshFile();
    const withValue = { ...event(), token: 'glpat-secret-value' } as AuditEvent;
    await expect(testAuditSink(file).append(withValue)).rejects.toThrow(/audit event/);
    await expect(testAuditSink(file).append(event())).resolves.toMatchObject({ seq: 1 });
    expect(readFileSync(file, 'utf8')).not.toContain('glpat-secret-value');
  });
});

describe('verifyAuditLog', () => {
  it('accepts an empty log', async () => {
    const file = freshFile();
    writeFileSync(file, '');
    expect(await verifyAuditLog(file, testAuditTrust(file))).toEqual({
      ok: true,
      entries: 0,
      lastHash: GENESIS_HASH,
    });
  });

  it.each([
    [
      'an edited line',
      (lines: string[]) =>
        lines.map((line, index) => (index === 1 ? line.replace('"alice"', '"mallory"') : line)),
      {
        line: 2,
        problem:
          'hash does not match the entry: the line was changed, or the log was written with another key',
      },
    ],
    [
      'a removed line',
      (lines: string[]) => lines.filter((_, index) => index !== 1),
      { line: 2, problem: 'seq is 3, expected 2: a line was removed or moved' },
    ],
    [
      'reordered lines',
      (lines: string[]) => [lines[0], lines[2], lines[1], lines[3]].map(String),
      { line: 2, problem: 'seq is 3, expected 2: a line was removed or moved' },
    ],
    [
      'a renumbered line removed',
      // Removing a line and renumbering those after it still breaks the link to the previous hash.
      (lines: string[]) =>
        [lines[0], lines[2], lines[3]].map((line, index) =>
          String(line).replace(/"seq":\d+/, `"seq":${index + 1}`),
        ),
      { line: 2, problem: 'prevHash is not the previous line’s hash: a line was removed or moved' },
    ],
  ])('finds %s, naming the line', async (_, change, broken) => {
    const { file, lines } = await logOf(4);
    rewrite(file, change(lines));
    expect(await verifyAuditLog(file, testAuditTrust(file))).toEqual({ ok: false, ...broken });
  });

  it('finds a truncated last line', async () => {
    const { file, lines } = await logOf(3);
    writeFileSync(file, `${lines.join('\n')}`.slice(0, -20));
    expect(await verifyAuditLog(file, testAuditTrust(file))).toEqual({
      ok: false,
      line: 3,
      problem: 'truncated: no newline at the end',
    });
    writeFileSync(file, `${lines.slice(0, 2).join('\n')}\n${String(lines[2]).slice(0, -20)}\n`);
    expect(await verifyAuditLog(file, testAuditTrust(file))).toEqual({
      ok: false,
      line: 3,
      problem: 'not a JSON entry',
    });
  });
});

describe('the keyed, anchored chain', () => {
  it('finds an actor rewritten and the whole chain recomputed, as SHA-256 alone allowed', async () => {
    const { file, lines } = await logOf(3);
    const edited = lines.map((line, index) => (index === 1 ? line.replace('"alice"', '"mallory"') : line));
    rewrite(file, plainChain(edited));
    expect(await verifyAuditLog(file, testAuditTrust(file))).toEqual({
      ok: false,
      line: 1,
      problem:
        'an unkeyed (SHA-256) chain from before the audit key: not accepted; move the file aside and start a new log',
    });
    rewrite(file, [String(lines[0]), ...plainChain(edited).slice(1)]);
    expect(await verifyAuditLog(file, testAuditTrust(file))).toMatchObject({ ok: false, line: 2 });
  });

  it('finds the last entries cut off, against the anchor, and extends no such log', async () => {
    const { file, lines } = await logOf(4);
    rewrite(file, lines.slice(0, 2));
    const { anchor } = testAuditTrust(file);
    expect(await verifyAuditLog(file, testAuditTrust(file))).toEqual({
      ok: false,
      line: 3,
      problem: `truncated: the anchor ${anchor.name} records 4 entries, the file has 2`,
    });
    await expect(testAuditSink(file).append(event())).rejects.toThrow(
      `audit log ${file} is broken at line 3`,
    );
    writeFileSync(file, '');
    expect(await verifyAuditLog(file, testAuditTrust(file))).toMatchObject({ ok: false, line: 1 });
  });

  it('finds a log replaced by another one written with the key', async () => {
    const { file } = await logOf(3);
    const other = await logOf(3);
    copyFileSync(other.file, file);
    const { anchor } = testAuditTrust(file);
    expect(await verifyAuditLog(file, testAuditTrust(file))).toEqual({
      ok: false,
      line: 3,
      problem: `the entry the anchor ${anchor.name} records has another hash: the log was rewritten`,
    });
  });

  it('creates the log for its user only', async () => {
    const { file } = await logOf(1);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('waits out a Vault that vanishes for a moment while it anchors, instead of failing the step', async () => {
    const file = freshFile();
    const relay = await httpRelay(testServers().vault.endpoint);
    try {
      const trust = testAuditTrust(file);
      const anchorPath = defaultAnchorPath(TEST_AUDIT_KEY_PATH, file);
      const throughRelay = new VaultKvStore({ ...testServers().vault, endpoint: relay.url });
      const sink = new FileAuditSink(file, {
        ...trust,
        anchor: new VaultAuditAnchor(throughRelay, anchorPath),
      });
      relay.goDownOn(() => true);
      const appended = sink.append(event());
      await new Promise((wake) => setTimeout(wake, 1_500));
      relay.up();
      await appended;

      expect(await trust.anchor.read()).toEqual({ entries: 1, hash: auditEntries(file)[0]?.hash });
    } finally {
      await relay.close();
    }
  });

  it('anchors after each batch of appends, so that the anchor holds the head', async () => {
    const { file } = await logOf(5);
    expect(await testAuditTrust(file).anchor.read()).toEqual({
      entries: 5,
      hash: auditEntries(file)[4]?.hash,
    });
    // Five appends at once: one anchor write covers them all.
    const anchorPath = defaultAnchorPath(TEST_AUDIT_KEY_PATH, file);
    expect((await new VaultKvStore(testServers().vault).read(anchorPath)).ref.version).toBe(1);
  });
});

describe('rotator audit verify', () => {
  it('exits 0 for an intact log, 1 for a broken one, 2 when it cannot read the file', async () => {
    const { file, lines } = await logOf(2);
    const lastHash = auditEntries(file)[1]?.hash;
    expect(await rotator(['audit', 'verify'], { ...VAULT, ROTATOR_AUDIT_LOG: file })).toEqual({
      code: 0,
      stdout: `${file} is intact: 2 entries, last hash ${lastHash}\n`,
      stderr: '',
    });
    rewrite(file, [String(lines[1]), String(lines[0])]);
    expect(await rotator(['audit', 'verify', file], VAULT)).toEqual({
      code: 1,
      stdout: '',
      stderr: `${file}:1: seq is 2, expected 1: a line was removed or moved\n${file} is broken\n`,
    });
    const missing = join(directory, 'missing.jsonl');
    expect(await rotator(['audit', 'verify', missing], VAULT)).toEqual({
      code: 2,
      stdout: '',
      stderr: `rotator: cannot read ${missing} (ENOENT)\n`,
    });
  });
});
