import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { verifyAuditLog } from '../../src/audit';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import type { rotateCredential } from '../../workflows';
import { rotationWorld, until, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import { testServers } from '../infra/test-servers';
import { testAuditTrust } from '../helpers/audit';
import {
  buildWorkerWithBundle,
  killWorkerProcesses,
  startWorkerProcess,
  TcpProxy,
  type RunningWorker,
} from './process';

const servers = testServers();
const vault = new VaultKvStore(servers.vault);
let rotation: RotationWorld;
let build: ReturnType<typeof buildWorkerWithBundle>;
let connection: Connection;
let client: Client;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  build = buildWorkerWithBundle();
  connection = await Connection.connect({ address: servers.temporalAddress });
  client = new Client({ connection });
});

afterAll(async () => {
  killWorkerProcesses();
  await connection?.close();
  await rotation?.close();
  build?.remove();
});

async function startWorker(taskQueue: string, env: Record<string, string> = {}): Promise<RunningWorker> {
  const worker = await startWorkerProcess(build.dir, {
    TEMPORAL_ADDRESS: servers.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    VAULT_ADDR: servers.vault.endpoint,
    VAULT_TOKEN: servers.vault.token,
    ROTATOR_INVENTORY: rotation.inventoryPath,
    ROTATOR_AUDIT_LOG: rotation.auditLog,
    ...env,
  });
  workers.push(worker);
  await until(async () => (await worker.get('/readyz')).status === 200);
  expect(await worker.get('/readyz')).toMatchObject({ status: 200 });
  return worker;
}

const rotate = (taskQueue: string, credential: SeededCredential) =>
  startRotation(client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
    rollbackAttempts: 1,
  });

const readyz = async (worker: RunningWorker) => {
  const { status, text } = await worker.get('/readyz');
  return { status, body: JSON.parse(text) as { status: string; down: string[] } };
};

/** The samples of one metric in Prometheus' text format, each with its labels. */
async function samples(worker: RunningWorker, name: string) {
  const { text } = await worker.get('/metrics');
  return text
    .split('\n')
    .map((line) => /^(\w+)\{(.*)\} (\S+)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null && match[1] === name)
    .map(([, , labels = '', value]) => ({
      labels: Object.fromEntries([...labels.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k, v])),
      value: Number(value),
    }));
}

async function sample(worker: RunningWorker, name: string, labels: Record<string, string>) {
  const matching = (await samples(worker, name)).filter((s) =>
    Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
  return matching.length === 1 ? matching[0]?.value : undefined;
}

const logged = (worker: RunningWorker, msg: string) =>
  worker.logLines().filter((line) => typeof line.msg === 'string' && line.msg.startsWith(msg));

async function rolledBack(handle: WorkflowHandle<typeof rotateCredential>): Promise<boolean> {
  try {
    await handle.result();
    return false;
  } catch (error) {
    return error instanceof WorkflowFailedError;
  }
}

describe('the worker process', () => {
  it('on SIGTERM mid-rotation lets the running step finish, exits 0, and another worker finishes the rotation', async () => {
    const taskQueue = `shutdown-${randomUUID()}`;
    const credential = await rotation.seed('sigterm');
    rotation.writeInventory();
    const first = await startWorker(taskQueue, { ROTATOR_SHUTDOWN_GRACE: '1m' });
    // Built as in production: the prebuilt workflow bundle, no bundling at start.
    expect(logged(first, 'worker started')[0]?.workflowBundle).toBe(join(build.dir, 'workflow-bundle.js'));
    // A slow CI variable write keeps the rotation's target write running while the worker is told to stop.
    const { sim } = rotation.world;
    const write = { method: 'PUT', route: '/projects/:id/variables/:key' };
    const writesBefore = sim.callsTotal(write.method, write.route);
    sim.faults.slow({ ...write, ms: 3000 });
    try {
      const handle = await rotate(taskQueue, credential);
      // A target write runs as a local activity: GitLab has its request, not yet its answer.
      const writing = async () => sim.callsTotal(write.method, write.route) > writesBefore;
      await until(writing);
      expect(await writing()).toBe(true);
      first.signal('SIGTERM');
      expect(await first.exited).toBe(0);
      // The write in flight at SIGTERM completed on the first worker before it exited.
      expect(rotation.audited(credential).map((entry) => entry.event)).toContain('distributed');
      expect(logged(first, 'shutting down')).toHaveLength(1);
      expect(logged(first, 'worker stopped')).toHaveLength(1);
      expect((await handle.describe()).status.name).toBe('RUNNING');

      sim.faults.clear();
      await startWorker(taskQueue);
      expect(await handle.result()).toMatchObject({ outcome: 'rotated' });
      await rotation.expectRotatedOnce(credential);
      const events = rotation.audited(credential).map((entry) => entry.event);
      expect(events.filter((event) => event === 'issued')).toHaveLength(1);
      expect(events.filter((event) => event === 'distributed')).toHaveLength(1);
    } finally {
      sim.faults.clear();
    }
  });

  it('answers /readyz 503 naming Vault or Temporal while it is unreachable, and 200 once it is back', async () => {
    const vaultProxy = await TcpProxy.to(servers.vault.endpoint);
    const temporalProxy = await TcpProxy.to(servers.temporalAddress);
    try {
      const worker = await startWorker(`readyz-${randomUUID()}`, {
        VAULT_ADDR: `http://127.0.0.1:${vaultProxy.port}`,
        TEMPORAL_ADDRESS: `127.0.0.1:${temporalProxy.port}`,
      });
      expect(await worker.get('/healthz')).toMatchObject({ status: 200 });

      for (const [name, proxy] of [
        ['vault', vaultProxy],
        ['temporal', temporalProxy],
      ] as const) {
        await proxy.close();
        await until(async () => (await readyz(worker)).status === 503);
        expect(await readyz(worker)).toMatchObject({
          status: 503,
          body: { status: 'not ready', down: [name] },
        });
        // Alive all the while: only readiness depends on the servers.
        expect(await worker.get('/healthz')).toMatchObject({ status: 200 });

        await proxy.open();
        await until(async () => (await readyz(worker)).status === 200);
        expect(await readyz(worker)).toMatchObject({ status: 200, body: { status: 'ready', down: [] } });
      }
      expect(logged(worker, 'not ready: vault down')).toHaveLength(1);
      expect(logged(worker, 'not ready: temporal down')).toHaveLength(1);
    } finally {
      await vaultProxy.close();
      await temporalProxy.close();
    }
  });

  describe('one worker rotating on its own task queue', () => {
    const taskQueue = `metrics-${randomUUID()}`;
    let worker: RunningWorker;
    let rotated: SeededCredential;
    let kept: SeededCredential;
    let recovered: SeededCredential;

    beforeAll(async () => {
      rotated = await rotation.seed('metrics-rotated');
      kept = await rotation.seed('inventory-kept');
      recovered = await rotation.seed('metrics-recovered');
      rotation.writeInventory();
      worker = await startWorker(taskQueue);
    });

    it('shows the rotation counters, step durations and credential ages on /metrics', async () => {
      expect(await (await rotate(taskQueue, rotated)).result()).toMatchObject({ outcome: 'rotated' });
      const { sim } = rotation.world;
      const mint = { method: 'POST', route: '/projects/:id/access_tokens' };
      sim.faults.dropAfterCommit({ ...mint, n: sim.callsTotal(mint.method, mint.route) + 1 });
      expect(await (await rotate(taskQueue, recovered)).result()).toMatchObject({ outcome: 'rotated' });
      const failing = await rotation.seed('metrics-rolled-back');
      rotation.writeInventory();
      await until(async () => logged(worker, 'inventory reloaded').length === 1);
      const route = '/personal_access_tokens/self';
      sim.faults.failNth({ method: 'GET', route, n: sim.callsTotal('GET', route) + 1, status: 401 });
      expect(await rolledBack(await rotate(taskQueue, failing))).toBe(true);

      const byCredential = (credential: SeededCredential) => ({ credential_id: credential.id });
      const counted = async () =>
        (await sample(worker, 'rotator_rotations_finished', {
          ...byCredential(failing),
          outcome: 'rolled-back',
        })) === 1;
      await until(counted);
      for (const credential of [rotated, recovered, failing]) {
        expect(
          await sample(worker, 'rotator_rotations_started', {
            ...byCredential(credential),
            reason: 'manual',
          }),
        ).toBe(1);
      }
      expect(
        await sample(worker, 'rotator_rotations_finished', { ...byCredential(rotated), outcome: 'rotated' }),
      ).toBe(1);
      expect(
        await sample(worker, 'rotator_rotations_finished', {
          ...byCredential(failing),
          outcome: 'rolled-back',
        }),
      ).toBe(1);
      expect(
        await sample(worker, 'rotator_rollbacks', { ...byCredential(failing), outcome: 'rolled-back' }),
      ).toBe(1);
      expect(await sample(worker, 'rotator_rollbacks', byCredential(rotated))).toBeUndefined();
      expect(await sample(worker, 'rotator_recoveries', byCredential(recovered))).toBe(1);
      expect(await sample(worker, 'rotator_recoveries', byCredential(rotated))).toBeUndefined();
      expect(
        await sample(worker, 'rotator_step_duration_seconds_count', {
          step: 'issueCredential',
          result: 'ok',
          taskQueue,
        }),
      ).toBeGreaterThanOrEqual(2);
      expect(
        await sample(worker, 'rotator_step_duration_seconds_count', {
          step: 'verifyCredential',
          result: 'failed',
          taskQueue,
        }),
      ).toBe(1);
      // Read from Vault's metadata: every credential of the inventory, rotated or not, is young.
      for (const credential of [rotated, kept]) {
        expect(await sample(worker, 'rotator_credential_age_seconds', byCredential(credential))).toEqual(
          expect.any(Number),
        );
        expect(await sample(worker, 'rotator_credential_overdue', byCredential(credential))).toBe(0);
      }
      // The SDK's own metrics come from the same endpoint.
      expect((await samples(worker, 'temporal_workflow_completed')).length).toBeGreaterThan(0);
    });

    it('refuses an invalid inventory, logging its errors, and keeps rotating with the last good one', async () => {
      const secret = 'glpat-pasted-by-mistake-0123456789';
      writeFileSync(rotation.inventoryPath, `credentials:\n  - id: ${secret}\n    kye: oops\n`);
      await until(async () => logged(worker, 'inventory refused').length === 1);
      worker.signal('SIGHUP');
      await until(async () => logged(worker, 'inventory refused').length === 2);
      const refused = logged(worker, 'inventory refused');
      expect(refused.map((line) => line.trigger)).toEqual(['file changed', 'SIGHUP']);
      expect(refused[0]?.errors).toEqual(expect.arrayContaining([expect.stringMatching(/kye: unknown key/)]));
      expect(worker.output()).not.toContain(secret);

      expect(await (await rotate(taskQueue, kept)).result()).toMatchObject({ outcome: 'rotated' });
      await rotation.expectRotatedOnce(kept);
      expect(await readyz(worker)).toMatchObject({ status: 200 });
    });

    it('applies a corrected inventory to the next rotation without a restart', async () => {
      const added = await rotation.seed('inventory-added');
      const reloads = logged(worker, 'inventory reloaded').length;
      rotation.writeInventory();
      await until(async () => logged(worker, 'inventory reloaded').length === reloads + 1);
      expect(await (await rotate(taskQueue, added)).result()).toMatchObject({ outcome: 'rotated' });
      await rotation.expectRotatedOnce(added);
    });

    it('exits 0 on SIGINT', async () => {
      worker.signal('SIGINT');
      expect(await worker.exited).toBe(0);
    });
  });

  it('with ROTATOR_WORKFLOW_CACHE=1 keeps one rotation in memory and replays the others: three at once all rotate', async () => {
    const taskQueue = `cache-${randomUUID()}`;
    const credentials = [
      await rotation.seed('cache-a', { overlap: '2s' }),
      await rotation.seed('cache-b', { overlap: '2s' }),
      await rotation.seed('cache-c', { overlap: '2s' }),
    ];
    rotation.writeInventory();
    const worker = await startWorker(taskQueue, { ROTATOR_WORKFLOW_CACHE: '1' });
    const handles = await Promise.all(credentials.map((credential) => rotate(taskQueue, credential)));
    for (const handle of handles) expect(await handle.result()).toMatchObject({ outcome: 'rotated' });
    for (const credential of credentials) await rotation.expectRotatedOnce(credential);
    const total = async (name: string) =>
      (await samples(worker, name)).reduce((sum, { value }) => sum + value, 0);
    expect(await total('temporal_sticky_cache_size')).toBeLessThanOrEqual(1);
    expect(await total('temporal_sticky_cache_total_forced_eviction')).toBeGreaterThan(0);
    worker.signal('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('prints JSON lines only, without any token value, and leaves an intact audit chain', async () => {
    // Every worker above, the ones stopped with SIGINT and SIGTERM included.
    expect(workers).toHaveLength(5);
    for (const worker of workers) {
      const lines = worker.output().trim().split('\n');
      expect(lines.filter((line) => !line.startsWith('{'))).toEqual([]);
      for (const value of [...rotation.world.state.minted, rotation.world.adminToken.value]) {
        expect(worker.output()).not.toContain(value);
      }
    }
    expect(await verifyAuditLog(rotation.auditLog, testAuditTrust(rotation.auditLog))).toMatchObject({
      ok: true,
    });
  });
});
