import { createHash, createHmac, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, appendFile, chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from './validation';
import { untilStoreAnswers } from './stores/store';
import { VaultError, type SecretPath, type VaultKv } from './vault';

/** The lifecycle events of a rotation, in the operator's words. */
const AUDIT_EVENTS = [
  'started',
  'skipped',
  'approved',
  'paused',
  'issued',
  'verified',
  'distributed',
  'canary passed',
  'canary skipped',
  'promoted',
  'resumed',
  'revoked',
  'recovered',
  'reviewed',
  'rolled back',
  'failed',
] as const;

/** The `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

const count = z.number().int().min(0);
/** Kept as written, so that an entry hashes the same when it is read back: 0.2.0 wrote numbers. */
const tokenIdSchema = z.union([z.string().min(1).max(256), count]);
/** Vault's version numbers, or another store's own version ids. */
const versionIdSchema = z.union([count, z.string().min(1).max(256)]);
const hashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 hash in hex');

/** One event as a step reports it: names, ids and versions only, never a value (unknown keys are refused). */
export const auditEventSchema = z
  .object({
    credentialId: z.string().min(1),
    workflowId: z.string().min(1).optional(),
    runId: z.string().min(1).optional(),
    event: z.enum(AUDIT_EVENTS),
    /** The rotation's step, as its timeline names it (`revoke old`, `rollback`, ...). */
    step: z.string().min(1),
    /** Who asked for the rotation, or who approved it. */
    actor: z.string().min(1),
    reason: z.string().min(1).optional(),
    outcome: z.enum([
      'ok',
      'not-due',
      'dry-run',
      'cancelled',
      'rolled-back',
      'failed',
      'compromised',
      'compromised-or-lost',
    ]),
    detail: z.string().optional(),
    vault: z
      .object({
        current: versionIdSchema.optional(),
        previous: versionIdSchema.optional(),
        staged: versionIdSchema.optional(),
      })
      .strict()
      .optional(),
    /** The target, dependent or source the step acted on, by the name operators know it by. */
    resource: z.string().min(1).optional(),
    /**
     * The token the event is about (the new one for `issued` and `verified`, the revoked one for `revoked`):
     * its id at the provider, a number in entries 0.2.0 wrote.
     */
    tokenId: tokenIdSchema.optional(),
    /** For `issued`: the token the new one replaces. */
    replacesTokenId: tokenIdSchema.optional(),
  })
  .strict();
export type AuditEvent = z.infer<typeof auditEventSchema>;

const auditEntrySchema = auditEventSchema
  .extend({ seq: z.number().int().positive(), at: z.iso.datetime(), prevHash: hashSchema, hash: hashSchema })
  .strict();
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** Where audit entries go; a file by default, more sinks can follow. */
export interface AuditSink {
  append(event: AuditEvent): Promise<AuditEntry>;
  /** Resolves when an append could be written now; a step checks it before changing what it cannot undo. */
  ready(): Promise<void>;
}

/** A broken chain or a file that cannot hold more entries: the message names the file and line, never a value. */
export class AuditLogError extends Error {
  override readonly name = 'AuditLogError';
}

/** JSON with every object's keys sorted, so the same entry always hashes the same. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, node: unknown) =>
    typeof node === 'object' && node !== null && !Array.isArray(node)
      ? Object.fromEntries(Object.entries(node).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : node,
  );
}

/**
 * HMAC-SHA256 with a key the log never holds: without it, an edited line cannot be given a hash that
 * verifies, even with the whole chain recomputed.
 */
function hashOf(entry: Omit<AuditEntry, 'hash'>, key: Buffer): string {
  return createHmac('sha256', key).update(canonicalJson(entry)).digest('hex');
}

/** The unkeyed SHA-256 of the logs written before the chain was keyed: recognised only to refuse them clearly. */
const plainHashOf = (entry: Omit<AuditEntry, 'hash'>) =>
  createHash('sha256').update(canonicalJson(entry)).digest('hex');

/** The HMAC key's length, in bytes. */
export const AUDIT_KEY_BYTES = 32;

/** A new random key, for a store that has none yet. */
export const newAuditKey = (): Buffer => randomBytes(AUDIT_KEY_BYTES);

/** The chain's last entry as recorded outside the file: how many entries, and the last one's hash. */
export interface AuditHead {
  entries: number;
  hash: string;
}

/** Where the chain head is kept outside the file, so that a cut tail or a rewritten log shows. */
export interface AuditAnchor {
  /** What the anchor says; undefined when nothing was anchored yet. */
  read(): Promise<AuditHead | undefined>;
  write(head: AuditHead): Promise<void>;
  /** Names the anchor in messages (a Vault path), never a value. */
  readonly name: string;
}

/** What a log is checked with: its key, and its anchor. */
export interface AuditTrust {
  key: Buffer;
  anchor: AuditAnchor;
}

export type AuditVerification =
  | {
      ok: true;
      entries: number;
      lastHash: string;
      /** Entries after the anchored head (a worker stopped mid-append). */ unanchored?: number;
    }
  | { ok: false; line: number; problem: string };

interface Chain {
  ok: true;
  entries: number;
  lastHash: string;
  hashes: string[];
}

/** Checks every line's shape, sequence number, link to the previous line and keyed hash. */
export function verifyAuditText(text: string, key: Buffer): AuditVerification {
  const chain = verifyChain(text, key);
  return chain.ok ? { ok: true, entries: chain.entries, lastHash: chain.lastHash } : chain;
}

function verifyChain(text: string, key: Buffer): Chain | { ok: false; line: number; problem: string } {
  if (text === '') return { ok: true, entries: 0, lastHash: GENESIS_HASH, hashes: [] };
  const lines = text.split('\n');
  // A complete log ends with a newline, which leaves one empty string after the split.
  if (lines.pop() !== '')
    return { ok: false, line: lines.length + 1, problem: 'truncated: no newline at the end' };
  let prevHash = GENESIS_HASH;
  const hashes: string[] = [];
  for (const [index, line] of lines.entries()) {
    const broken = (problem: string) => ({ ok: false as const, line: index + 1, problem });
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return broken('not a JSON entry');
    }
    const parsed = auditEntrySchema.safeParse(json);
    if (!parsed.success) return broken(`not an audit entry: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const { hash, ...body } = parsed.data;
    if (body.seq !== index + 1)
      return broken(`seq is ${body.seq}, expected ${index + 1}: a line was removed or moved`);
    if (body.prevHash !== prevHash)
      return broken('prevHash is not the previous line’s hash: a line was removed or moved');
    if (hashOf(body, key) !== hash) {
      return broken(
        index === 0 && plainHashOf(body) === hash
          ? 'an unkeyed (SHA-256) chain from before the audit key: not accepted; move the file aside and start a new log'
          : 'hash does not match the entry: the line was changed, or the log was written with another key',
      );
    }
    prevHash = hash;
    hashes.push(hash);
  }
  return { ok: true, entries: lines.length, lastHash: prevHash, hashes };
}

/**
 * The chain, then the file against its anchor: fewer entries than anchored means a cut tail, another hash at
 * the anchored entry a rewritten log. Entries after the anchored one are keyed like the rest, and reported.
 */
export function verifyAuditTextAnchored(
  text: string,
  key: Buffer,
  anchor: AuditHead | undefined,
  anchorName: string,
): AuditVerification {
  const chain = verifyChain(text, key);
  if (!chain.ok) return chain;
  const { entries, lastHash, hashes } = chain;
  const anchored = anchor ?? { entries: 0, hash: GENESIS_HASH };
  if (anchored.entries > entries) {
    return {
      ok: false,
      line: entries + 1,
      problem: `truncated: the anchor ${anchorName} records ${anchored.entries} entries, the file has ${entries}`,
    };
  }
  if (anchored.entries > 0 && hashes[anchored.entries - 1] !== anchored.hash) {
    return {
      ok: false,
      line: anchored.entries,
      problem: `the entry the anchor ${anchorName} records has another hash: the log was rewritten`,
    };
  }
  return {
    ok: true,
    entries,
    lastHash,
    ...(entries > anchored.entries ? { unanchored: entries - anchored.entries } : {}),
  };
}

/** Verifies an audit log file against its key and anchor; a missing file throws, as it proves nothing. */
export async function verifyAuditLog(path: string, trust: AuditTrust): Promise<AuditVerification> {
  const text = await readFile(path, 'utf8');
  return verifyAuditTextAnchored(text, trust.key, await trust.anchor.read(), trust.anchor.name);
}

/** What identifies the file's content as this sink last saw it, without reading it. */
interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

const identityOf = async (path: string): Promise<FileIdentity | undefined> => {
  try {
    const { ino, size, mtimeMs } = await stat(path);
    return { ino, size, mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

const sameFile = (a: FileIdentity | undefined, b: FileIdentity | undefined) =>
  a !== undefined && b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

interface ChainHead {
  seq: number;
  hash: string;
  /** The file as it was when this head was read or written: unchanged since, it need not be read again. */
  file: FileIdentity | undefined;
}

/**
 * Appends JSON lines to one file, each carrying the hash of the one before. Appends are serialised in this
 * process, and the chain resumes from the file's last entry, so a restarted worker continues it. Several
 * processes writing the same file would fork the chain: give each worker its own file.
 */
export class FileAuditSink implements AuditSink {
  /** The last entry written, once the file has been read. */
  private last: Promise<ChainHead> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** How many entries the anchor holds, and the write of it under way. */
  private anchored = 0;
  private anchoring: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly trust: AuditTrust,
  ) {}

  /** Resolves once the entry is in the file and the anchor covers it. */
  async append(event: AuditEvent): Promise<AuditEntry> {
    const appended = this.queue.then(() => this.write(event));
    this.queue = appended.catch(() => undefined);
    const entry = await appended;
    await this.anchorUpTo(entry.seq);
    return entry;
  }

  /**
   * One anchor write covers every entry queued with this one: a step's events, appended together, cost one
   * Vault write, not one each.
   */
  private async anchorUpTo(seq: number): Promise<void> {
    while (this.anchored < seq) {
      await this.queue;
      if (this.anchoring === undefined) {
        this.anchoring = this.writeAnchor().finally(() => (this.anchoring = undefined));
      }
      await this.anchoring;
    }
  }

  private async writeAnchor(): Promise<void> {
    const head = await this.last;
    if (head === undefined) throw new AuditLogError(`audit log ${this.path}: nothing to anchor`);
    await this.trust.anchor.write({ entries: head.seq, hash: head.hash });
    this.anchored = Math.max(this.anchored, head.seq);
  }

  /**
   * Checks that the chain is intact and the file can be written. The file is verified again only when it is
   * no longer exactly as this sink last wrote or read it (another writer, an operator's edit, a truncation):
   * verifying the whole chain before every step made each rotation slower than the one before.
   */
  ready(): Promise<void> {
    const checked = this.queue.then(async () => {
      const known = await this.last?.catch(() => undefined);
      if (known === undefined || !sameFile(known.file, await identityOf(this.path))) {
        this.last = this.resume();
        await this.last;
      }
      await access(this.path, constants.W_OK).catch(async (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await access(dirname(this.path), constants.W_OK);
      });
    });
    // Appends queued behind a failed check read the file anew.
    this.queue = checked.catch(() => {
      this.last = undefined;
    });
    return checked;
  }

  private async write(event: AuditEvent): Promise<AuditEntry> {
    const checked = parseOrThrow(auditEventSchema, event, 'audit event');
    try {
      const last = await (this.last ??= this.resume());
      const body = { ...checked, seq: last.seq + 1, at: new Date().toISOString(), prevHash: last.hash };
      const entry = { ...body, hash: hashOf(body, this.trust.key) };
      // Created for this user only: the log names every credential, actor and token id.
      await appendFile(this.path, `${canonicalJson(entry)}\n`, { mode: 0o600 });
      this.last = Promise.resolve({ seq: entry.seq, hash: entry.hash, file: await identityOf(this.path) });
      return entry;
    } catch (error) {
      // Read the file anew next time: a failed write may have left part of a line, or an operator repaired it.
      this.last = undefined;
      throw error;
    }
  }

  /**
   * A broken chain, or one that does not reach its anchor, is never extended: the operator must see it first
   * (`rotator audit verify`). A tail the anchor does not cover yet (a worker stopped mid-append) is anchored.
   */
  private async resume(): Promise<ChainHead> {
    const file = await identityOf(this.path);
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
      await chmod(this.path, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const anchor = await this.trust.anchor.read();
    const verified = verifyAuditTextAnchored(text, this.trust.key, anchor, this.trust.anchor.name);
    if (!verified.ok) {
      throw new AuditLogError(
        `audit log ${this.path} is broken at line ${verified.line} (${verified.problem}): ` +
          'nothing more is appended until an operator repairs it (see rotator audit verify)',
      );
    }
    const head = { seq: verified.entries, hash: verified.lastHash, file };
    if (verified.unanchored !== undefined)
      await this.trust.anchor.write({ entries: head.seq, hash: head.hash });
    this.anchored = head.seq;
    return head;
  }
}

const anchorSchema = z
  .object({ entries: z.string().regex(/^\d+$/, 'expected a count').transform(Number), hash: hashSchema })
  .loose();

/** `<mount>/<path>` as the audit settings write it: the first segment is the KV v2 mount. */
export function vaultPathSetting(text: string): SecretPath | undefined {
  const slash = text.indexOf('/');
  return slash > 0 ? { mount: text.slice(0, slash), path: text.slice(slash + 1) } : undefined;
}

const describePath = (at: SecretPath) => `${at.mount}/${at.path}`;

/**
 * The anchor as a KV v2 secret (`entries`, `hash`). Writes check-and-set against the version last seen, so
 * that two workers sharing one anchor fail instead of overwriting each other's head.
 */
export class VaultAuditAnchor implements AuditAnchor {
  private version: number | undefined;
  /** How long a read or write of the anchor waits for an unavailable Vault: a blip must not fail a step. */
  static readonly PATIENCE_MS = 20_000;

  constructor(
    private readonly store: VaultKv,
    private readonly at: SecretPath,
  ) {}

  get name(): string {
    return describePath(this.at);
  }

  async read(): Promise<AuditHead | undefined> {
    try {
      const { data, ref } = await untilStoreAnswers(
        () => this.store.read(this.at),
        VaultAuditAnchor.PATIENCE_MS,
      );
      this.version = ref.version;
      return parseOrThrow(anchorSchema, data, `the audit anchor ${this.name}`);
    } catch (error) {
      if (!(error instanceof VaultError && error.status === 404)) throw error;
      this.version = 0;
      return undefined;
    }
  }

  async write(head: AuditHead): Promise<void> {
    if (this.version === undefined) await this.read();
    const data = { entries: String(head.entries), hash: head.hash };
    const cas = this.version;
    try {
      this.version = (
        await untilStoreAnswers(() => this.store.write(this.at, data, { cas }), VaultAuditAnchor.PATIENCE_MS)
      ).version;
    } catch (error) {
      if (!(error instanceof VaultError && error.status === 400)) throw error;
      // A try whose answer was lost may have written this very head: then the anchor holds it already.
      const now = await this.read();
      if (now?.entries === head.entries && now.hash === head.hash) return;
      throw new AuditLogError(
        `the audit anchor ${this.name} was changed by another writer: give each worker its own ` +
          'ROTATOR_AUDIT_ANCHOR_PATH, as its own audit log',
      );
    }
  }
}

/**
 * The HMAC key from the field `key` (base64 of 32 bytes) of a KV v2 secret. `create` (the embedded Vault,
 * the tests) writes a new one when there is none; otherwise a missing key stops the worker, saying how to make one.
 */
export async function readAuditKey(
  store: VaultKv,
  at: SecretPath,
  options: { create?: Buffer } = {},
): Promise<Buffer> {
  const where = `Vault ${describePath(at)} (ROTATOR_AUDIT_KEY_PATH)`;
  let data: Record<string, string>;
  try {
    data = (await store.read(at)).data;
  } catch (error) {
    if (!(error instanceof VaultError && error.status === 404)) throw error;
    if (options.create === undefined) {
      throw new AuditLogError(
        `no audit key at ${where}: create one once with ` +
          `vault kv put -mount=${at.mount} ${at.path} key="$(openssl rand -base64 ${AUDIT_KEY_BYTES})"`,
      );
    }
    // Check-and-set: of two workers creating it at once, both end up with the one that was written first.
    await store.write(at, { key: options.create.toString('base64') }, { cas: 0 }).catch((lost: unknown) => {
      if (!(lost instanceof VaultError && lost.status === 400)) throw lost;
    });
    data = (await store.read(at)).data;
  }
  const key = Buffer.from(data.key ?? '', 'base64');
  if (key.length !== AUDIT_KEY_BYTES)
    throw new AuditLogError(`the field key at ${where} is not the base64 of ${AUDIT_KEY_BYTES} bytes`);
  return key;
}

/** The folder of the logs' anchors unless ROTATOR_AUDIT_ANCHOR_PATH names one: beside the key. */
export function anchorFolder(keyPath: SecretPath): SecretPath {
  const folder = dirname(keyPath.path);
  return { mount: keyPath.mount, path: `${folder === '.' ? '' : `${folder}/`}audit-anchors` };
}

/** Where a log's anchor is unless ROTATOR_AUDIT_ANCHOR_PATH says: one per log file, named by its absolute path. */
export function defaultAnchorPath(keyPath: SecretPath, auditLog: string): SecretPath {
  const id = createHash('sha256').update(resolve(auditLog)).digest('hex').slice(0, 16);
  const folder = anchorFolder(keyPath);
  return { ...folder, path: `${folder.path}/${id}` };
}

/**
 * The key the embedded worker gives its in-memory Vault at each start, kept in a file of this user's only:
 * without it, every restart would find its own log written with a lost key.
 */
export async function embeddedAuditKey(file: string): Promise<Buffer> {
  try {
    return Buffer.from(await readFile(file, 'utf8'), 'base64');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = newAuditKey();
  await writeFile(file, key.toString('base64'), { mode: 0o600, flag: 'wx' });
  return key;
}

/**
 * Anchors a log whose anchor is gone with the embedded Vault it was in, at the head its chain verifies to;
 * returns that head, or undefined when there was an anchor already. Never for a real Vault: there a missing
 * anchor beside a log with entries is what a cut log looks like.
 */
export async function adoptAuditHead(path: string, trust: AuditTrust): Promise<AuditHead | undefined> {
  if ((await trust.anchor.read()) !== undefined) return undefined;
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const verified = verifyAuditText(text, trust.key);
  if (!verified.ok || verified.entries === 0) return undefined;
  const head = { entries: verified.entries, hash: verified.lastHash };
  await trust.anchor.write(head);
  return head;
}
