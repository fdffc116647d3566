import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fingerprintOf } from '../../src/fingerprint';
import { stagedPath } from '../../src/stores/vault';
import { startRotation } from '../../src/rotations';
import { rotationWorkflowId } from '../../src/rotation-names';
import { VaultKvStore, type SecretPath } from '../../src/vault';
import type { StateReport } from '../../src/verify';
import type { RotationStatus } from '../../workflows/status';
import { cliWorld, type CliWorld } from '../cli/world';
import { defined } from '../gitlab/world';
import { until, type SeededCredential, type SeedOptions } from '../helpers/rotation';
import { httpRelay, type HttpRelay } from '../helpers/http-relay';
import { scannedFile } from '../infra/secret-scan';
import { testServers } from '../infra/test-servers';
import { seedGrantedCredential } from '../oauth2/credential';
import { startAuthorizationServer, type AuthorizationServer } from '../oauth2/server';

/*
 * `rotator verify-state` against the real dev server and Vault and the GitLab simulator: a world after a
 * real rotation verifies clean; then each invariant is broken for real, one credential each, and named.
 */
let world: CliWorld;
const seeded: Record<string, SeededCredential> = {};
const NAMES = [
  'clean',
  'overlap',
  'stuck',
  'slow',
  'drift',
  'revoked',
  'orphan',
  'staged',
  'in-place',
] as const;
type Name = (typeof NAMES)[number];
const SEED_OPTIONS: Partial<Record<Name, SeedOptions>> = {
  overlap: { overlap: '10m' },
  'in-place': { strategy: 'rotate-in-place' },
};
/** The OAuth2 authorization server, reached through a relay that can lose the answer to a grant. */
let oauth2: AuthorizationServer;
let relay: HttpRelay;
/** OAuth2 credentials, for the compromised-or-lost and the compromised ends. */
let lost: OAuth2;
let stolen: OAuth2;
interface OAuth2 {
  id: string;
  vault: SecretPath;
}
/** The rotation of `in-place` that ended compromised-or-lost, before one that rolled back. */
let lostInPlace: string;
/** Every OAuth2 value handed out here, for the search at the end. */
const oauth2Values: string[] = [];
/** Everything the command printed, searched at the end for token values. */
const printed: string[] = [];

/** A version seeded by hand, without the fingerprint a rotation writes. */
const UNFINGERPRINTED = { kind: 'fingerprint-missing', message: expect.stringContaining(' has no ') };
const credential = (name: Name) => defined(seeded[name]);
const sim = () => world.rotation.world.state;
const vault = () => new VaultKvStore(testServers().vault);
const verifyEnv = () => ({
  VAULT_ADDR: testServers().vault.endpoint,
  VAULT_TOKEN: testServers().vault.token,
  ROTATOR_AUDIT_LOG: world.rotation.auditLog,
});
const run = async (...argv: string[]) => {
  const result = await world.cli(['verify-state', ...argv], verifyEnv());
  printed.push(result.stdout, result.stderr);
  return result;
};
const verify = async (...argv: string[]) => {
  const result = await run('--json', ...argv);
  expect(result.stderr).toBe('');
  return { code: result.code, report: JSON.parse(result.stdout) as StateReport };
};
const byId = (report: StateReport, id: string) =>
  defined(report.credentials.find(({ credentialId }) => credentialId === id));
const of = (report: StateReport, name: Name) => byId(report, credential(name).id);
/** A project token named as the credential's own: what the rotator would have minted and left behind. */
const leftover = (name: Name) =>
  sim().addResourceToken(world.rotation.world.project, 'project', {
    name: credential(name).old.name,
    scopes: ['read_api'],
    expiresAt: '2099-12-31',
    accessLevel: 30,
  });

beforeAll(async () => {
  world = await cliWorld('verify');
  for (const name of NAMES) seeded[name] = await world.rotation.seed(name, SEED_OPTIONS[name]);
  oauth2 = await startAuthorizationServer();
  relay = await httpRelay(oauth2.url);
  lost = await seedOAuth2('lost');
  stolen = await seedOAuth2('stolen');
  world.rotation.writeInventory();
  await world.startWorker();
});

/** An OAuth2 credential granted once by hand (as after a browser consent), its access token in a CI variable. */
async function seedOAuth2(name: string): Promise<OAuth2> {
  const credential = await seedGrantedCredential({
    rotation: world.rotation,
    vault: vault(),
    server: oauth2,
    tokenUrl: `${relay.url}/token`,
    name,
  });
  oauth2Values.push(credential.accessToken, credential.refreshToken);
  return { id: credential.id, vault: credential.vault };
}

afterAll(async () => {
  for (const name of ['overlap', 'stuck'] as const) {
    await world?.client.workflow
      .getHandle(rotationWorkflowId(credential(name).id))
      .terminate('verify-state test done')
      .catch(() => undefined);
  }
  await world?.close();
  await relay?.close();
  await oauth2?.close();
});

describe('rotator verify-state', () => {
  it('finds the world clean after a real rotation: every credential ok, the audit log intact, exit 0', async () => {
    const rotated = await world.cli(['rotate', credential('clean').id, '--force', '--wait']);
    expect(rotated.code).toBe(0);

    const { code, report } = await verify();
    expect(code).toBe(0);
    expect(report).toMatchObject({ ok: true, violations: 0, taskQueue: world.taskQueue, openRotations: [] });
    expect(report.auditLogs).toEqual([
      { path: world.rotation.auditLog, ok: true, entries: expect.any(Number) },
    ]);
    // Seeded by hand, as before fingerprints: a warning on the current version (once rotated, the previous).
    for (const name of NAMES)
      expect(of(report, name)).toMatchObject({ verdict: 'ok', violations: [], notes: [UNFINGERPRINTED] });
    // The OAuth2 grant's three tokens: the value delivered, the refresh token and the access token.
    for (const { id } of [lost, stolen])
      expect(byId(report, id)).toMatchObject({
        verdict: 'ok',
        violations: [],
        notes: [UNFINGERPRINTED, UNFINGERPRINTED, UNFINGERPRINTED],
      });
    const fresh = defined(world.rotation.newTokens(credential('clean'))[0]);
    expect(of(report, 'clean')).toMatchObject({
      current: { version: 2, tokenId: String(fresh.id) },
      lastRotation: { workflowId: rotationWorkflowId(credential('clean').id), state: 'rotated' },
    });

    const table = await run();
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^CREDENTIAL +VERDICT +REASON\n/);
    expect(table.stdout).toMatch(new RegExp(`\n${credential('clean').id} +ok +every invariant holds\n`));
    expect(table.stdout).toContain(`no violation: ${NAMES.length + 2} credentials checked`);
  });

  it('excuses the previous token inside its overlap window, and lists the rotation as waiting', async () => {
    expect((await world.cli(['rotate', credential('overlap').id, '--force'])).code).toBe(0);
    await world.untilPhase(credential('overlap').id, 'overlapping');
    const { code, report } = await verify();
    expect(code).toBe(0);
    expect(of(report, 'overlap')).toMatchObject({
      verdict: 'ok',
      notes: [
        UNFINGERPRINTED,
        {
          kind: 'exempt',
          message: expect.stringMatching(
            new RegExp(
              `^token ${credential('overlap').old.id}: the previous token, inside the overlap window`,
            ),
          ),
        },
      ],
    });
    expect(report.openRotations).toEqual([
      expect.objectContaining({
        credentialId: credential('overlap').id,
        state: 'waiting',
        phase: 'overlapping',
      }),
    ]);
  });

  it('accepts a rollback waiting in needs-operator, alerted and audited, as a documented terminal state', async () => {
    const { sim: server } = world.rotation.world;
    const route = '/projects/:id/variables/:key';
    const n = server.callsTotal('PUT', route);
    server.faults.failNth({ method: 'PUT', route, n: n + 1, status: 403 });
    for (const k of [2, 3]) server.faults.failNth({ method: 'PUT', route, n: n + k, status: 500 });
    await startRotation(world.client, world.taskQueue, {
      credentialId: credential('stuck').id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
      rollbackAttempts: 2,
    });
    await world.untilPhase(credential('stuck').id, 'needs-operator');

    const { code, report } = await verify();
    expect(code).toBe(0);
    expect(of(report, 'stuck')).toMatchObject({
      verdict: 'terminal',
      reason: expect.stringMatching(/^needs-operator: rotate\/.*, alert sent and audited/),
      lastRotation: { state: 'running', phase: 'needs-operator' },
      violations: [],
    });
    expect(report.openRotations).toContainEqual(
      expect.objectContaining({
        credentialId: credential('stuck').id,
        state: 'waiting',
        phase: 'needs-operator',
      }),
    );
  });

  it('accepts an OAuth2 credential compromised-or-lost, alerted and audited, as a documented terminal state', async () => {
    relay.loseAnswerOf((request) => request.url === '/token');
    await expectTerminalAfterRotating(lost, 'compromised-or-lost');
  });

  it('accepts an OAuth2 credential compromised by a stolen refresh token, alerted and audited, as a documented terminal state', async () => {
    const { refreshToken } = (await vault().read(stolen.vault)).data;
    // A copy of the refresh token leaked, and the thief refreshes first.
    const thief = await oauth2.refresh(defined(refreshToken));
    expect(thief.status).toBe(200);
    oauth2Values.push(defined(thief.body.access_token), defined(thief.body.refresh_token));
    await expectTerminalAfterRotating(stolen, 'compromised');
  });

  /** Rotates the credential, which fails into `state`; verify-state must call that a documented end. */
  async function expectTerminalAfterRotating(credential: { id: string }, state: string) {
    const handle = await startRotation(world.client, world.taskQueue, {
      credentialId: credential.id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
    });
    await expect(handle.result()).rejects.toThrow();

    const { code, report } = await verify();
    expect(code).toBe(0);
    expect(byId(report, credential.id)).toMatchObject({
      verdict: 'terminal',
      reason:
        `${state}: ${rotationWorkflowId(credential.id)} (run ${handle.firstExecutionRunId}), ` +
        'alert sent and audited: a person takes over',
      lastRotation: { state },
      violations: [],
    });
  }

  it('keeps a compromised-or-lost end terminal when a later rotation of the credential rolls back', async () => {
    const { sim: server } = world.rotation.world;
    const { id, old } = credential('in-place');
    const request = { credentialId: id, reason: 'manual' as const, requestedBy: 'alice', force: true };
    const [rotate, create] = [
      { method: 'POST', route: '/projects/:id/access_tokens/:token_id/rotate' },
      { method: 'POST', route: '/projects/:id/access_tokens' },
    ];
    // The rotation in place revokes the old token but its answer is lost, and the fresh mint is refused.
    server.faults.dropAfterCommit({ ...rotate, n: server.callsTotal(rotate.method, rotate.route) + 1 });
    server.faults.failNth({ ...create, n: server.callsTotal(create.method, create.route) + 1, status: 403 });
    const first = await startRotation(world.client, world.taskQueue, request);
    await expect(first.result()).rejects.toThrow();
    expect((await first.query<RotationStatus>('status')).outcome).toBe('compromised-or-lost');
    lostInPlace = first.firstExecutionRunId;
    // As the chaos load did: the credential is rotated again, and GitLab refuses to rotate the revoked token.
    const second = await startRotation(world.client, world.taskQueue, request);
    await expect(second.result()).rejects.toMatchObject({
      cause: { message: expect.stringContaining('Token already revoked') },
    });
    expect((await second.query<RotationStatus>('status')).outcome).toBe('rolled-back');

    const { code, report } = await verify();
    expect(code).toBe(0);
    expect(of(report, 'in-place')).toMatchObject({
      verdict: 'terminal',
      reason:
        `compromised-or-lost: ${rotationWorkflowId(id)} (run ${lostInPlace}), ` +
        'alert sent and audited: a person takes over',
      lastRotation: { runId: second.firstExecutionRunId, state: 'rolled-back' },
      violations: [],
    });
    expect(of(report, 'in-place').notes).toEqual([
      {
        kind: 'terminal',
        message:
          `still compromised-or-lost: no rotation after run ${lostInPlace} ended rotated ` +
          `(run ${second.firstExecutionRunId} rolled-back)`,
      },
      {
        kind: 'terminal',
        message: expect.stringMatching(
          new RegExp(`^token-not-active: token ${old.id} .* is revoked at the provider$`),
        ),
      },
      UNFINGERPRINTED,
    ]);
  });

  it('refuses a terminal state the audit logs do not show', async () => {
    const empty = scannedFile('audit', `verify-empty-${Date.now()}.jsonl`);
    writeFileSync(empty, '');
    const { code, report } = await verify('--audit-log', empty);
    expect(code).toBe(1);
    expect(of(report, 'stuck')).toMatchObject({
      verdict: 'violation',
      violations: [
        {
          kind: 'terminal-unproven',
          message: expect.stringMatching(/is needs-operator, but the audit logs hold no entry of this run$/),
        },
      ],
    });
    expect(byId(report, lost.id).violations).toEqual([
      {
        kind: 'terminal-unproven',
        message: expect.stringMatching(
          /is compromised-or-lost, but the audit logs hold no "compromised-or-lost" outcome entry of this run$/,
        ),
      },
    ]);
    expect(byId(report, stolen.id).violations).toEqual([
      {
        kind: 'terminal-unproven',
        message: expect.stringMatching(
          /is compromised, but the audit logs hold no "compromised" outcome entry/,
        ),
      },
    ]);
    // The evidence asked for is the terminal rotation's, not the later one's.
    expect(of(report, 'in-place').violations).toContainEqual({
      kind: 'terminal-unproven',
      message: expect.stringContaining(
        `(run ${lostInPlace}) is compromised-or-lost, but the audit logs hold no`,
      ),
    });
  });

  it('flags a rotation in one step for longer than --stuck-after, and leaves its credential unjudged', async () => {
    const { sim: server } = world.rotation.world;
    // The detect step's call to GitLab hangs for 5 s; the checker's own calls, made later, do not.
    server.faults.latency(5_000);
    await startRotation(world.client, world.taskQueue, {
      credentialId: credential('slow').id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
    });
    await until(async () => server.inFlight() > 0);
    server.faults.latency(0);
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const { code, report } = await verify('--stuck-after', '1s');
    expect(code).toBe(1);
    expect(report.openRotations).toContainEqual(
      expect.objectContaining({
        credentialId: credential('slow').id,
        state: 'stuck',
        phase: 'detecting',
        message: expect.stringMatching(/^in step "detect" since .*, longer than --stuck-after \(1s\)$/),
      }),
    );
    expect(of(report, 'slow')).toMatchObject({ verdict: 'rotating', violations: [] });
    await world.client.workflow.getHandle(rotationWorkflowId(credential('slow').id)).result();
  });

  it('names a CI variable changed behind the rotator’s back, and exits 1', async () => {
    const { owner, key } = defined(credential('drift').variables[0]);
    defined(owner.variables.find((variable) => variable.key === key)).value = 'typed-by-hand-in-gitlab';
    const { code, report } = await verify();
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    expect(of(report, 'drift')).toMatchObject({
      verdict: 'violation',
      violations: [{ kind: 'target-not-current', message: expect.stringContaining(key) }],
    });
    expect(of(report, 'clean').verdict).toBe('ok');
  });

  it('names the current token revoked at the provider', async () => {
    defined(sim().tokens.get(credential('revoked').old.id)).revoked = true;
    const { report } = await verify();
    expect(of(report, 'revoked').violations).toEqual([
      {
        kind: 'token-not-active',
        message: expect.stringMatching(
          new RegExp(`^token ${credential('revoked').old.id} .* is revoked at the provider$`),
        ),
      },
    ]);
  });

  it('names an orphan: another token of the credential’s name still active at the provider', async () => {
    const orphan = leftover('orphan');
    const { report } = await verify();
    expect(of(report, 'orphan').violations).toEqual([
      {
        kind: 'orphan-token',
        message: expect.stringMatching(new RegExp(`^token ${orphan.id} "${orphan.name}" .* revoke it$`)),
      },
    ]);
  });

  it('names a live token left staged, newer than the current version, with no rotation running', async () => {
    const stranded = leftover('staged');
    await vault().write(stagedPath(credential('staged').vault), {
      token: stranded.value,
      tokenId: String(stranded.id),
      expiresAt: '2099-12-31',
    });
    const { report } = await verify();
    // Reported once, as stranded, rather than again as an orphan.
    expect(of(report, 'staged').violations).toEqual([
      {
        kind: 'stranded-staged',
        message: expect.stringMatching(
          new RegExp(
            `^token ${stranded.id} \\(Vault \\S+ staged v1, written .*\\) is active at the provider`,
          ),
        ),
      },
    ]);
  });

  it('names a broken line of one of several audit logs', async () => {
    const broken = scannedFile('audit', `verify-broken-${Date.now()}.jsonl`);
    copyFileSync(world.rotation.auditLog, broken);
    const lines = readFileSync(broken, 'utf8').split('\n');
    lines[1] = defined(lines[1]).replace('"actor":"alice"', '"actor":"mallory"');
    writeFileSync(broken, lines.join('\n'));
    const { code, report } = await verify('--audit-log', world.rotation.auditLog, '--audit-log', broken);
    expect(code).toBe(1);
    expect(report.auditLogs).toEqual([
      { path: world.rotation.auditLog, ok: true, entries: expect.any(Number) },
      { path: broken, ok: false, line: 2, problem: expect.stringContaining('the line was changed') },
    ]);
  });

  it('prints the table, every violation by name, the open rotations and the audit log', async () => {
    const table = await run();
    expect(table.code).toBe(1);
    for (const name of ['drift', 'revoked', 'orphan', 'staged'] as const)
      expect(table.stdout).toMatch(new RegExp(`\n${credential(name).id} +violation +[a-z-]+\n`));
    expect(table.stdout).toMatch(new RegExp(`\n${credential('stuck').id} +terminal +needs-operator: `));
    expect(table.stdout).toMatch(new RegExp(`\n${lost.id} +terminal +compromised-or-lost: `));
    expect(table.stdout).toContain(`${credential('drift').id}: VIOLATION target-not-current: `);
    expect(table.stdout).toContain(`open rotations on task queue ${world.taskQueue}:\n`);
    expect(table.stdout).toContain(`\n4 violations: ${NAMES.length + 2} credentials checked at `);
  });

  it('clears the terminal state once a later rotation ends rotated: the credential is judged in full again', async () => {
    const { id, vault: at, variables } = credential('in-place');
    // What the alert asks of a person: a fresh token made by hand, written to Vault and the CI variable.
    const fresh = leftover('in-place');
    await vault().write(at, { token: fresh.value, tokenId: String(fresh.id), expiresAt: '2099-12-31' });
    for (const { owner, key } of variables)
      defined(owner.variables.find((variable) => variable.key === key)).value = fresh.value;
    expect((await world.cli(['rotate', id, '--force', '--wait'])).code).toBe(0);

    const { report } = await verify();
    expect(of(report, 'in-place')).toMatchObject({
      verdict: 'ok',
      reason: 'every invariant holds',
      lastRotation: { state: 'rotated' },
      violations: [],
      notes: [{ ...UNFINGERPRINTED, message: expect.stringMatching(/^the previous version /) }],
    });
    // The compromised-or-lost rotation before it is no longer asked for its audit entry.
    const empty = scannedFile('audit', `verify-empty-${Date.now()}.jsonl`);
    writeFileSync(empty, '');
    const { report: unaudited } = await verify('--audit-log', empty);
    expect(of(unaudited, 'in-place')).toMatchObject({ verdict: 'ok', violations: [] });
    // Normal checks apply again: a revoked current token is a violation, not a terminal note.
    const current = defined(sim().tokens.get(Number(defined(of(report, 'in-place').current).tokenId)));
    current.revoked = true;
    const { report: revoked } = await verify();
    expect(of(revoked, 'in-place')).toMatchObject({
      verdict: 'violation',
      violations: [{ kind: 'token-not-active', message: expect.stringContaining(`token ${current.id} `) }],
    });
  });

  it('refuses wrong arguments and a missing Vault token with exit 2, and exits 4 without Temporal', async () => {
    expect(await run('--stuck-after', 'soon')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^rotator: --stuck-after: /),
    });
    const noToken = await world.cli(['verify-state'], { ...verifyEnv(), VAULT_TOKEN: '' });
    expect(noToken).toMatchObject({ code: 2, stderr: expect.stringContaining('VAULT_TOKEN') });
    const noTemporal = await world.cli(['verify-state'], { ...verifyEnv(), TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(noTemporal).toMatchObject({
      code: 4,
      stderr: expect.stringMatching(/^rotator: cannot reach Temporal at 127\.0\.0\.1:1 /),
    });
  });

  it('prints no token value: not the simulator’s, the OAuth2 server’s, nor the value typed by hand', async () => {
    const values = [...sim().tokens.values()].flatMap(({ value }) => [value, fingerprintOf(value)]);
    const everything = printed.join('\n');
    for (const value of [
      ...values,
      ...oauth2Values.flatMap((value) => [value, fingerprintOf(value)]),
      oauth2.clientSecret,
      'typed-by-hand-in-gitlab',
      world.rotation.world.adminToken.value,
    ])
      expect(everything).not.toContain(value);
  });
});
