import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { VaultKvStore } from '../../src/vault';
import { statusQuery } from '../../workflows';
import { defined, gitlabWorld, type GitLabWorld } from '../gitlab/world';
import { inventoryWorker } from '../helpers/inventory-worker';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import type { SimDeployToken } from '../sim/gitlab/state';

/**
 * Project and group deploy tokens rotated on the real Temporal and Vault servers: one CI variable receives
 * the token, another the username, both new with each token.
 */

const vault = new VaultKvStore(testServers().vault);
const base = `rotation/${randomUUID()}`;
const prefix = `t${randomUUID().slice(0, 6)}`;
const bench = inventoryWorker('deploy-tokens', vault);
let world: GitLabWorld;

interface Seeded {
  id: string;
  old: SimDeployToken;
  /** The CI variables of the token and of the username. */
  tokenKey: string;
  userKey: string;
}
const seeded: Record<string, Seeded> = {};
const credentials: object[] = [];

/** A live deploy token, current in Vault (token and username) and in its two CI variables. */
async function seed(name: string, scope: 'project' | 'group'): Promise<void> {
  const id = `${prefix}-${name}`;
  const owner = scope === 'project' ? world.project : world.group;
  const old = world.state.addDeployToken({
    resource: `${scope}:${owner.id}`,
    name: `${id}-pull`,
    scopes: ['read_repository', 'read_registry'],
    expiresAt: '2099-12-31T00:00:00.000Z',
  });
  const vaultPath = { mount: TEST_KV_MOUNT, path: `${base}/${name}` };
  await vault.write(vaultPath, {
    token: old.value,
    username: old.username,
    tokenId: String(old.id),
    expiresAt: '2099-12-31',
  });
  const key = id.toUpperCase().replace(/-/g, '_');
  const tokenKey = `${key}_PASSWORD`;
  const userKey = `${key}_USER`;
  world.state.addVariable(world.project, { key: tokenKey, value: old.value, masked: true });
  world.state.addVariable(world.project, { key: userKey, value: old.username });
  const variable = { kind: 'gitlab-ci-variable', gitlab: 'sim', project: world.project.path };
  credentials.push({
    id,
    description: `deploy token ${name}`,
    environment: 'test',
    owner: 'team-test',
    source: {
      kind: `gitlab-${scope}-deploy-token`,
      gitlab: 'sim',
      [scope]: owner.path,
      tokenName: old.name,
      scopes: old.scopes,
      lifetimeDays: 30,
    },
    vault: vaultPath,
    targets: [
      { ...variable, key: tokenKey },
      { ...variable, key: userKey, field: 'username', masked: false },
    ],
    policy: { every: '7d', overlap: '0s' },
  });
  seeded[name] = { id, old, tokenKey, userKey };
}

beforeAll(async () => {
  world = await gitlabWorld();
  const admin = { mount: TEST_KV_MOUNT, path: `${base}/admin` };
  await vault.write(admin, { token: world.adminToken.value });
  await seed('project', 'project');
  await seed('group', 'group');
  await seed('lost', 'project');
  await seed('rollback', 'project');
  await bench.start({
    providers: { gitlab: { sim: { url: world.sim.url, credential: { ...admin, key: 'token' } } } },
    credentials,
  });
});

afterAll(async () => {
  await bench.stop();
  await world?.sim.close();
});

const start = (name: string) => bench.rotate(defined(seeded[name]).id);

const valueOf = (key: string) => defined(world.project.variables.find((v) => v.key === key)).value;
/** The deploy tokens of a credential's name other than its seeded one, deleted ones gone. */
const newTokens = ({ old }: Seeded) =>
  [...world.state.deployTokens.values()].filter((token) => token.name === old.name && token.id !== old.id);
/** The fresh token and its username in the credential's two CI variables, and its old token deleted. */
function expectReplaced(credential: Seeded, fresh: SimDeployToken) {
  expect(valueOf(credential.tokenKey)).toBe(fresh.value);
  expect(valueOf(credential.userKey)).toBe(fresh.username);
  expect(world.state.deployTokens.has(credential.old.id)).toBe(false);
}

describe('deploy tokens on the real Temporal and Vault', () => {
  it.each(['project', 'group'])(
    'rotates a %s deploy token: the token to one target, its new username to another, the old one deleted',
    async (name) => {
      const credential = defined(seeded[name]);
      const result = await (await start(name)).result();

      expect(result).toMatchObject({ outcome: 'rotated', versions: { current: 2, previous: 1 } });
      const minted = newTokens(credential);
      expect(minted).toHaveLength(1);
      const fresh = defined(minted[0]);
      expect(fresh.username).not.toBe(credential.old.username);
      const current = await vault.read({ mount: TEST_KV_MOUNT, path: `${base}/${name}` });
      expect(current.data).toMatchObject({
        token: fresh.value,
        username: fresh.username,
        tokenId: String(fresh.id),
      });
      expectReplaced(credential, fresh);
    },
  );

  it('recovers a create whose answer was lost: the orphan deleted, one fresh token live everywhere', async () => {
    const credential = defined(seeded.lost);
    const route = '/projects/:id/deploy_tokens';
    const before = world.sim.callsTotal('POST', route);
    world.sim.faults.dropAfterCommit({ method: 'POST', route, n: before + 1 });
    const result = await (await start('lost')).result();

    expect(result).toMatchObject({ outcome: 'rotated' });
    // Two were made; the first, whose answer was lost, is deleted as an orphan.
    expect(world.sim.callsTotal('POST', route)).toBe(before + 2);
    const live = newTokens(credential);
    expect(live).toHaveLength(1);
    expectReplaced(credential, defined(live[0]));
  });

  it('rolls back: the new token deleted, both targets restored, the old token live', async () => {
    const credential = defined(seeded.rollback);
    const route = '/projects/:id/variables/:key';
    const n = world.sim.callsTotal('PUT', route) + 2;
    world.sim.faults.failNth({ method: 'PUT', route, n, status: 403 });
    const handle = await start('rollback');
    const error = await handle.result().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toMatchObject({ type: 'RotationRolledBack' });
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ outcome: 'rolled-back', versions: { current: 1 } });
    expect(newTokens(credential)).toEqual([]);
    expect(valueOf(credential.tokenKey)).toBe(credential.old.value);
    expect(valueOf(credential.userKey)).toBe(credential.old.username);
    expect(world.state.deployTokenActive(credential.old)).toBe(true);
    expect((await vault.read({ mount: TEST_KV_MOUNT, path: `${base}/rollback` })).ref.version).toBe(1);
  });

  it('leaves no token value in any history or in the audit log', async () => {
    const { histories, text } = await bench.recorded();
    expect(histories).toBe(4);
    expect(world.state.minted.length).toBeGreaterThanOrEqual(8);
    for (const value of [...world.state.minted, world.adminToken.value]) expect(text).not.toContain(value);
  });
});
