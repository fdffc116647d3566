import { randomUUID } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { createCredentialActivities } from '../../activities/credentials';
import { storedFieldReader } from '../../activities/provider-calls';
import { AdminSecrets } from '../../src/providers/admin-secrets';
import { openStores } from '../../src/stores';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { statusQuery } from '../../workflows';
import type { RotationPhase } from '../../workflows/status';
import { noAudit } from '../helpers/audit';
import { historyText } from '../helpers/history';
import { rotationWorld, until, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import { buildWorker, killWorkers, spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { defined } from '../gitlab/world';
import type { SimToken } from '../sim/gitlab/state';
import { testServers } from '../infra/test-servers';

/*
 * The provider's admin token is itself a credential of the inventory (source.self): the worker connects to
 * the GitLab simulator with the token its rotations replace. Every rotation runs on a worker process of its
 * own build, so that a test can kill one mid-rotation and start another on the same Vault.
 */
const servers = testServers();
const vault = new VaultKvStore(servers.vault);
const taskQueue = `self-rotation-${randomUUID()}`;
let rotation: RotationWorld;
let build: ReturnType<typeof buildWorker>;
let connection: Connection;
let client: Client;
const workers: WorkerProcess[] = [];
const handles: WorkflowHandle[] = [];
/** The rotator's own admin token, and the second admin token kept as its fallback. */
let selfEntry: { source: Record<string, unknown>; policy: Record<string, unknown> };
let fallback: SimToken;
let other: SeededCredential;
const selfVariable = 'ROTATOR_ADMIN_TOKEN';

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  build = buildWorker();
  connection = await Connection.connect({ address: servers.temporalAddress });
  client = new Client({ connection });
  const { state, root, project } = rotation.world;
  const id = rotation.credentialId('rotator');
  const admin = state.addToken({
    userId: root.id,
    name: id,
    scopes: ['api', 'self_rotate'],
    expiresAt: '2099-12-31',
  });
  fallback = state.addToken({ userId: root.id, name: 'break-glass', scopes: ['api'], expiresAt: null });
  await vault.write(rotation.vaultPath('rotator'), {
    token: admin.value,
    tokenId: String(admin.id),
    expiresAt: '2099-12-31',
  });
  await vault.write(rotation.vaultPath('break-glass'), { token: fallback.value });
  state.addVariable(project, { key: selfVariable, value: admin.value, masked: true });
  selfEntry = {
    source: {
      kind: 'gitlab-personal-access-token',
      gitlab: 'sim',
      user: root.id,
      tokenName: id,
      scopes: ['api', 'self_rotate'],
      lifetimeDays: 30,
      self: true,
      strategy: 'create-then-revoke',
    },
    policy: { every: '7d', overlap: '2s' },
  };
  rotation.addCredential({
    id,
    description: 'the token the worker calls the GitLab simulator with',
    environment: 'test',
    owner: 'team-test',
    ...selfEntry,
    vault: rotation.vaultPath('rotator'),
    targets: [{ kind: 'gitlab-ci-variable', gitlab: 'sim', project: project.path, key: selfVariable }],
  });
  other = await rotation.seed('other');
}, 180_000);

afterAll(async () => {
  killWorkers();
  await connection?.close();
  await rotation?.close();
  build?.remove();
});

/** The inventory with the self token's strategy and overlap as the test sets them. */
function writeInventory(strategy: 'create-then-revoke' | 'rotate-in-place', overlap: string): void {
  selfEntry.source.strategy = strategy;
  selfEntry.policy.overlap = overlap;
  rotation.writeInventory({
    adminCredential: { ...rotation.vaultPath('rotator'), key: 'token' },
    fallbackCredential: { ...rotation.vaultPath('break-glass'), key: 'token' },
  });
}

/** One worker process at a time, so that the test knows which one runs a rotation. */
async function startWorker(): Promise<WorkerProcess> {
  killWorkers();
  const worker = await spawnWorker(build.dir, {
    TEMPORAL_ADDRESS: servers.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    VAULT_ADDR: servers.vault.endpoint,
    VAULT_TOKEN: servers.vault.token,
    ROTATOR_INVENTORY: rotation.inventoryPath,
    ROTATOR_AUDIT_LOG: rotation.auditLog,
  });
  workers.push(worker);
  return worker;
}

async function start(credentialId: string) {
  const handle = await startRotation(client, taskQueue, {
    credentialId,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
  handles.push(handle);
  return handle;
}

/** The admin token the store holds now, as the simulator knows it. */
async function currentAdmin(): Promise<SimToken> {
  const { data } = await vault.read(rotation.vaultPath('rotator'));
  return defined(rotation.world.state.tokens.get(Number(data.tokenId)));
}

/** The new admin token is in the store and its target, live; the one before it is revoked. */
async function expectReplaced(before: SimToken): Promise<SimToken> {
  const after = await currentAdmin();
  expect(after.id).not.toBe(before.id);
  expect(rotation.world.state.isActive(after)).toBe(true);
  expect(rotation.world.state.tokens.get(before.id)?.revoked).toBe(true);
  const variable = rotation.world.project.variables.find((v) => v.key === selfVariable);
  expect(variable?.value).toBe(after.value);
  return after;
}

/** Another credential rotates with the admin token the store holds now. */
async function expectOtherRotates(): Promise<void> {
  const result = await (await start(other.id)).result();
  expect(result.outcome).toBe('rotated');
  const { data } = await vault.read(other.vault);
  expect(data.tokenId).toBe(result.newTokenId);
}

/** Starts a rotation of the admin token, kills its worker once it reaches `phase`, and lets another finish it. */
async function rotateSelfKilledAt(phase: RotationPhase) {
  const first = await startWorker();
  const handle = await start(rotation.credentialId('rotator'));
  await until(async () => (await handle.query(statusQuery)).phase === phase);
  expect((await handle.query(statusQuery)).phase).toBe(phase);
  await first.crash();
  rotation.world.sim.faults.latency(0);
  await startWorker();
  return handle.result();
}

describe('the rotator rotates its own admin token (source.self)', () => {
  it('create-then-revoke: the new token is promoted, and the next rotation connects with it, not the fallback', async () => {
    writeInventory('create-then-revoke', '2s');
    await startWorker();
    const before = await currentAdmin();
    const result = await (await start(rotation.credentialId('rotator'))).result();
    expect(result.outcome).toBe('rotated');
    // The worker stopped presenting the old token at promote: the overlap saw no use of it after the switch.
    expect(result.alerts).toEqual([]);
    const after = await expectReplaced(before);
    // Revoke old ran after promote: it connected with the new token, read from the store afresh.
    await expectOtherRotates();
    expect(after.lastUsedAt).not.toBeNull();
    expect(fallback.lastUsedAt).toBeNull();
  });

  it('rotate-in-place: the token rotates itself through GitLab’s self endpoint', async () => {
    writeInventory('rotate-in-place', '0s');
    await startWorker();
    const before = await currentAdmin();
    const selfRotations = () => rotation.world.sim.callsTotal('POST', '/personal_access_tokens/self/rotate');
    const calls = selfRotations();
    const result = await (await start(rotation.credentialId('rotator'))).result();
    expect(result.outcome).toBe('rotated');
    expect(selfRotations()).toBe(calls + 1);
    const after = await expectReplaced(before);
    expect(after.previousTokenId).toBe(before.id);
    await expectOtherRotates();
  });

  it('a worker killed after issue, before promote (in place: the store still names the revoked token): the next worker finishes with the fallback', async () => {
    writeInventory('rotate-in-place', '0s');
    const before = await currentAdmin();
    // Slow answers keep the rotation in distribute long enough to kill its worker there.
    rotation.world.sim.faults.latency(1000);
    let result: Awaited<ReturnType<typeof rotateSelfKilledAt>>;
    try {
      result = await rotateSelfKilledAt('distributing');
    } finally {
      rotation.world.sim.faults.latency(0);
    }
    expect(result.outcome).toBe('rotated');
    await expectReplaced(before);
    await expectOtherRotates();
  });

  it('a worker killed after promote, in the overlap: the next worker reads the new token and revokes the old', async () => {
    writeInventory('create-then-revoke', '5s');
    const before = await currentAdmin();
    const result = await rotateSelfKilledAt('overlapping');
    expect(result.outcome).toBe('rotated');
    await expectReplaced(before);
    await expectOtherRotates();
  });

  it('a worker still holding the replaced token retries with the new one: 401, forget, read again', async () => {
    // A second worker process, as the activities of one: it read the admin token before a rotation replaced it.
    // It keeps what it read for an hour here, so that the rotation below cannot outlast its cache.
    const adminSecrets = new AdminSecrets(
      storedFieldReader({ vault, stores: openStores({ vault }) }),
      3_600_000,
    );
    const activities = createCredentialActivities({ vault, audit: noAudit, adminSecrets });
    const source = {
      kind: 'gitlab-project-access-token',
      connection: {
        url: rotation.world.sim.url,
        credential: { ...rotation.vaultPath('rotator'), key: 'token' },
      },
      spec: {
        scope: 'project',
        projectId: rotation.world.project.path,
        tokenName: other.old.name,
        scopes: ['read_api'],
        accessLevel: 30,
        lifetimeDays: 30,
        strategy: 'create-then-revoke',
      },
    };
    const { data } = await vault.read(other.vault);
    const inspect = () => activities.inspectCredential({ source, tokenId: defined(data.tokenId) });
    await expect(inspect()).resolves.toMatchObject({ active: true });
    writeInventory('create-then-revoke', '2s');
    await startWorker();
    const before = await currentAdmin();
    expect((await (await start(rotation.credentialId('rotator'))).result()).outcome).toBe('rotated');
    await expectReplaced(before);
    // Its cached token is revoked now: the refusal is retryable, and the retry connects with the new token.
    await expect(inspect()).rejects.toMatchObject({
      nonRetryable: false,
      message: expect.stringMatching(/HTTP 401: .*the admin token was replaced in the meantime/),
    });
    await expect(inspect()).resolves.toMatchObject({ active: true });
  });

  it('leaves no token value in the histories or in what the worker processes printed', async () => {
    const values = [
      ...rotation.world.state.minted,
      ...[...rotation.world.state.tokens.values()].map((token) => token.value),
    ];
    const output = workers.map((worker) => worker.output()).join('\n');
    expect(output).toContain('Worker state changed');
    const histories = await Promise.all(
      handles.map(async (handle) => historyText(await handle.fetchHistory())),
    );
    expect(histories).toHaveLength(handles.length);
    for (const value of values) {
      expect(output).not.toContain(value);
      for (const history of histories) expect(history).not.toContain(value);
    }
  });
});
