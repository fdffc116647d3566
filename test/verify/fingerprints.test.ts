import { fingerprintOf } from '../../src/fingerprint';
import { rotationWorkflowId } from '../../src/rotation-names';
import { openStores } from '../../src/stores';
import { StoreError } from '../../src/stores/store';
import { VaultKvStore, type SecretPath } from '../../src/vault';
import type { StateReport } from '../../src/verify';
import { historyText } from '../helpers/history';
import { cliWorld, type CliWorld } from '../cli/world';
import { defined } from '../gitlab/world';
import type { SeededCredential } from '../helpers/rotation';
import { testServers } from '../infra/test-servers';
import { seedGrantedCredential } from '../oauth2/credential';
import { startAuthorizationServer, type AuthorizationServer } from '../oauth2/server';

/*
 * Token fingerprints on the real dev server, Vault, the GitLab simulator and the OAuth2 authorization
 * server: a rotation stores the fingerprint of what it minted beside it; `verify-state` notes a credential
 * without one and flags a wrong one; `rotator fingerprints backfill` writes them, skipping a credential
 * whose rotation runs, and with --dry-run writes nothing.
 */
let world: CliWorld;
let oauth2: AuthorizationServer;
let grant: { id: string; vault: SecretPath };
const seeded: Record<string, SeededCredential> = {};
const NAMES = ['rotated', 'seeded', 'tampered', 'rotating'] as const;
type Name = (typeof NAMES)[number];
/** Everything a command printed, searched at the end for values and fingerprints. */
const printed: string[] = [];

const credential = (name: Name) => defined(seeded[name]);
const vault = () => new VaultKvStore(testServers().vault);
const storeEnv = () => ({ VAULT_ADDR: testServers().vault.endpoint, VAULT_TOKEN: testServers().vault.token });
const run = async (argv: string[], env: NodeJS.ProcessEnv = storeEnv()) => {
  const result = await world.cli(argv, env);
  printed.push(result.stdout, result.stderr);
  return result;
};
const verify = async () => {
  const result = await run(['verify-state', '--json'], {
    ...storeEnv(),
    ROTATOR_AUDIT_LOG: world.rotation.auditLog,
  });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as StateReport;
};
const verdictOf = (report: StateReport, id: string) =>
  defined(report.credentials.find(({ credentialId }) => credentialId === id));
interface Backfilled {
  credentialId: string;
  result: string;
  detail: string;
}
const backfill = async (...argv: string[]) => {
  const result = await run(['fingerprints', 'backfill', '--json', ...argv]);
  expect(result.stderr).toBe('');
  const { credentials } = JSON.parse(result.stdout) as { credentials: Backfilled[] };
  return { code: result.code, byId: new Map(credentials.map((found) => [found.credentialId, found])) };
};
/** The current version of every credential's secret. */
const versions = async () =>
  Promise.all(
    [...NAMES.map((name) => credential(name).vault), grant.vault].map(
      async (at) => (await vault().read(at)).ref.version,
    ),
  );

beforeAll(async () => {
  world = await cliWorld('fingerprints');
  for (const name of NAMES)
    seeded[name] = await world.rotation.seed(name, name === 'rotating' ? { requireApproval: true } : {});
  oauth2 = await startAuthorizationServer();
  const granted = await seedGrantedCredential({
    rotation: world.rotation,
    vault: vault(),
    server: oauth2,
    tokenUrl: `${oauth2.url}/token`,
    name: 'grant',
  });
  grant = { id: granted.id, vault: granted.vault };
  world.rotation.writeInventory();
  await world.startWorker();
});

afterAll(async () => {
  await world?.client.workflow
    .getHandle(rotationWorkflowId(credential('rotating').id))
    .terminate('fingerprints test done')
    .catch(() => undefined);
  await world?.close();
  await oauth2?.close();
});

describe('token fingerprints', () => {
  it('a rotation stores the fingerprint of the token it minted beside it, and nowhere in the history', async () => {
    const { id, vault: at } = credential('rotated');
    await vault().write(at, { ...(await vault().read(at)).data, note: 'ask team-ci first' });
    expect((await run(['rotate', id, '--force', '--wait'])).code).toBe(0);

    const fresh = defined(world.rotation.newTokens(credential('rotated'))[0]);
    const { data } = await vault().read(at);
    expect(data).toEqual({
      token: fresh.value,
      tokenFingerprint: fingerprintOf(fresh.value),
      tokenId: String(fresh.id),
      expiresAt: expect.any(String),
      note: 'ask team-ci first',
    });
    expect(data.tokenFingerprint).toMatch(/^sha256:v1:[0-9a-f]{64}$/);
    const history = historyText(await world.client.workflow.getHandle(rotationWorkflowId(id)).fetchHistory());
    expect(history).not.toContain(data.tokenFingerprint);
  });

  it('an OAuth2 rotation stores the fingerprint of each token it keeps', async () => {
    expect((await run(['rotate', grant.id, '--force', '--wait'])).code).toBe(0);
    const { data } = await vault().read(grant.vault);
    const { token, refreshToken, accessToken } = data;
    expect(data).toMatchObject({
      tokenFingerprint: fingerprintOf(defined(token)),
      refreshTokenFingerprint: fingerprintOf(defined(refreshToken)),
      accessTokenFingerprint: fingerprintOf(defined(accessToken)),
    });
  });

  it('verify-state notes a version without a fingerprint and flags one that does not match its token', async () => {
    const tampered = credential('tampered');
    const current = await vault().read(tampered.vault);
    await vault().write(tampered.vault, {
      ...current.data,
      tokenFingerprint: fingerprintOf('another token'),
    });
    // Its detect has read the version without a fingerprint: the rotation the backfill must not break.
    expect((await run(['rotate', credential('rotating').id, '--force'])).code).toBe(0);
    await world.untilPhase(credential('rotating').id, 'awaiting-approval');

    const report = await verify();
    const { id, vault: at, old } = credential('seeded');
    expect(verdictOf(report, id)).toMatchObject({
      verdict: 'ok',
      violations: [],
      notes: [
        {
          kind: 'fingerprint-missing',
          message:
            `the current version Vault ${at.mount}/${at.path} v1 (token ${old.id}): field token has no ` +
            'tokenFingerprint: it gets one at its next rotation, or from rotator fingerprints backfill',
        },
      ],
    });
    // Rotated once: the current version has one, the seeded version it replaced has none.
    const rotated = credential('rotated');
    expect(verdictOf(report, rotated.id)).toMatchObject({
      verdict: 'ok',
      violations: [],
      notes: [
        {
          kind: 'fingerprint-missing',
          message: expect.stringMatching(
            new RegExp(
              `^the previous version Vault \\S+ v2 \\(token ${rotated.old.id}\\): field token has no `,
            ),
          ),
        },
      ],
    });
    expect(verdictOf(report, tampered.id)).toMatchObject({
      verdict: 'violation',
      reason: 'fingerprint-mismatch',
      violations: [
        {
          kind: 'fingerprint-mismatch',
          message:
            `the current version Vault ${tampered.vault.mount}/${tampered.vault.path} v2 (token ${tampered.old.id}): ` +
            'tokenFingerprint does not match field token: run rotator fingerprints backfill',
        },
      ],
    });
    const table = await run(['verify-state'], { ...storeEnv(), ROTATOR_AUDIT_LOG: world.rotation.auditLog });
    expect(table.code).toBe(1);
    expect(table.stdout).toContain(`${id}: fingerprint-missing: the current version `);
    expect(table.stdout).toContain(`${tampered.id}: VIOLATION fingerprint-mismatch: `);
  });

  it('backfill --dry-run says what it would write and writes nothing', async () => {
    const before = await versions();
    const { code, byId } = await backfill('--dry-run');
    expect(code).toBe(0);
    const { vault: at } = credential('seeded');
    expect(byId.get(credential('seeded').id)).toEqual({
      credentialId: credential('seeded').id,
      result: 'would-write',
      detail: `Vault ${at.mount}/${at.path} v1: would write the fingerprints of token`,
    });
    expect(byId.get(credential('tampered').id)).toMatchObject({ result: 'would-write' });
    expect(byId.get(credential('rotated').id)).toMatchObject({ result: 'has-fingerprints' });
    expect(byId.get(grant.id)).toMatchObject({ result: 'has-fingerprints' });
    expect(byId.get(credential('rotating').id)).toMatchObject({ result: 'skipped' });
    expect(await versions()).toEqual(before);
  });

  it('backfill writes them onto the current version, keeping every field, skips a running rotation, and verify-state is then clean', async () => {
    const { vault: at } = credential('seeded');
    const seededBefore = await vault().read(at);
    const rotatingBefore = (await vault().read(credential('rotating').vault)).ref.version;

    const { code, byId } = await backfill();
    expect(code).toBe(0);
    expect(byId.get(credential('seeded').id)).toMatchObject({
      result: 'written',
      detail: `Vault ${at.mount}/${at.path} v1: wrote the fingerprints of token as v2`,
    });
    expect(byId.get(credential('tampered').id)).toMatchObject({ result: 'written' });
    expect(byId.get(credential('rotating').id)).toMatchObject({
      result: 'skipped',
      detail: expect.stringMatching(/ runs: its promote writes the fingerprints$/),
    });
    expect((await vault().read(credential('rotating').vault)).ref.version).toBe(rotatingBefore);
    const after = await vault().read(at);
    expect(after).toMatchObject({ ref: { version: 2 } });
    expect(after.data).toEqual({
      ...seededBefore.data,
      tokenFingerprint: fingerprintOf(defined(seededBefore.data.token)),
    });

    const report = await verify();
    for (const name of ['seeded', 'tampered'] as const)
      expect(verdictOf(report, credential(name).id)).toMatchObject({
        verdict: 'ok',
        violations: [],
        notes: [],
      });
    // A second run has nothing left to write.
    const again = await backfill();
    expect(again.byId.get(credential('seeded').id)).toMatchObject({ result: 'has-fingerprints' });
  });

  it("the Vault store's amend is a check-and-set on the version read: a value written since is kept", async () => {
    const at = world.rotation.vaultPath('amended');
    const stores = openStores({ vault: vault() });
    const first = await vault().write(at, { token: 'first-value', tokenId: '1' });
    expect(await stores.of(first).readPrevious(first)).toBeUndefined();
    const theirs = await vault().write(at, { token: 'their-value', tokenId: '2' });
    expect(await stores.of(theirs).readPrevious(theirs)).toEqual({
      data: { token: 'first-value', tokenId: '1' },
      version: first,
    });

    const refused = await stores
      .of(first)
      .amend(first, { tokenFingerprint: fingerprintOf('first-value') })
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(StoreError);
    expect(refused).toMatchObject({
      failure: 'conflict',
      message: `Vault ${at.mount}/${at.path} is no longer at v1: someone else changed it, so it is not overwritten`,
    });
    expect(await vault().read(at)).toEqual({ data: { token: 'their-value', tokenId: '2' }, ref: theirs });
  });

  it('refuses wrong arguments and a missing Vault token with exit 2', async () => {
    expect(await run(['fingerprints', 'backfill', '--inventory', ''])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^rotator: --inventory: /),
    });
    expect(await run(['fingerprints', 'backfill', '--dry-run=yes'])).toMatchObject({ code: 2 });
    expect(await run(['fingerprints', 'backfill'], { ...storeEnv(), VAULT_TOKEN: '' })).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('VAULT_TOKEN'),
    });
  });

  it('prints no token value and no fingerprint', async () => {
    const everything = printed.join('\n');
    for (const { value } of world.rotation.world.state.tokens.values()) {
      expect(everything).not.toContain(value);
      expect(everything).not.toContain(fingerprintOf(value));
    }
  });
});
