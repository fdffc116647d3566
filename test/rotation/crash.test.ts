import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { RotationPhase } from '../../workflows/status';
import { verifyAuditLog } from '../../src/audit';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { statusQuery } from '../../workflows';
import {
  ROTATION_STEPS,
  rotationWorld,
  until,
  type RotationWorld,
  type SeededCredential,
} from '../helpers/rotation';
import { httpRelay } from '../helpers/http-relay';
import { buildWorker, killWorkers, spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { defined } from '../gitlab/world';
import { testServers } from '../infra/test-servers';
import { testAuditTrust } from '../helpers/audit';

const servers = testServers();
const vault = new VaultKvStore(servers.vault);
const taskQueue = `crash-${randomUUID()}`;
let rotation: RotationWorld;
let build: ReturnType<typeof buildWorker>;
let connection: Connection;
let client: Client;
/** Every worker process these tests start, for the secret scan of their output. */
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  build = buildWorker();
  connection = await Connection.connect({ address: servers.temporalAddress });
  client = new Client({ connection });
});

afterAll(async () => {
  killWorkers();
  await connection?.close();
  await rotation?.close();
  build?.remove();
});

async function startWorker(vaultAddress = servers.vault.endpoint): Promise<WorkerProcess> {
  const worker = await spawnWorker(build.dir, {
    TEMPORAL_ADDRESS: servers.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    VAULT_ADDR: vaultAddress,
    VAULT_TOKEN: servers.vault.token,
    ROTATOR_INVENTORY: rotation.inventoryPath,
    ROTATOR_AUDIT_LOG: rotation.auditLog,
  });
  workers.push(worker);
  return worker;
}

/**
 * Starts a rotation, crashes its worker once it reaches `phase` (and `also` holds), starts another, and
 * answers the result.
 */
async function crashAt(credential: SeededCredential, phase: RotationPhase, also = () => true) {
  // The last test's replacement worker would pick up this rotation's tasks too: one worker at a time.
  killWorkers();
  const first = await startWorker();
  const handle = await startRotation(client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
  await until(async () => (await handle.query(statusQuery)).phase === phase && also());
  expect((await handle.query(statusQuery)).phase).toBe(phase);
  await first.crash();
  rotation.world.sim.faults.latency(0);
  await startWorker();
  return handle.result();
}

/** Rotated once after the crash: one token minted and live everywhere, every step run once. */
async function expectRotatedOnce(credential: SeededCredential, result: Awaited<ReturnType<typeof crashAt>>) {
  expect(result).toMatchObject({ outcome: 'rotated', versions: { current: 2, previous: 1 } });
  expect(result.timeline.map((entry) => [entry.step, entry.result])).toEqual(
    ROTATION_STEPS.map((step) => [step, 'ok']),
  );
  await rotation.expectRotatedOnce(credential);
  const events = rotation.audited(credential).map((entry) => entry.event);
  expect(events.filter((event) => event === 'issued')).toHaveLength(1);
  expect(events.at(-1)).toBe('revoked');
}

describe('a worker process killed mid-rotation (SIGKILL), then replaced', () => {
  it('finishes a rotation whose worker died in distribute: rotated once, one token minted', async () => {
    const credential = await rotation.seed('distribute-crash');
    rotation.writeInventory();
    // Slow answers keep the rotation in distribute long enough to kill its worker there.
    rotation.world.sim.faults.latency(1000);
    try {
      await expectRotatedOnce(credential, await crashAt(credential, 'distributing'));
    } finally {
      rotation.world.sim.faults.latency(0);
    }
  });

  it('recovers a mint whose worker died awaiting the answer: orphan revoked, one new token live', async () => {
    const credential = await rotation.seed('issue-crash');
    rotation.writeInventory();
    // GitLab answers after the worker is dead, having created the token: nobody hears of it.
    rotation.world.sim.faults.latency(2000);
    let result: Awaited<ReturnType<typeof crashAt>>;
    try {
      // GitLab has the mint request and is still holding its answer when the worker dies.
      result = await crashAt(credential, 'issuing', () => rotation.world.sim.inFlight() > 0);
    } finally {
      rotation.world.sim.faults.latency(0);
    }
    expect(result.outcome).toBe('rotated');
    expect(result.failures).toEqual([expect.objectContaining({ step: 'issue', class: 'lost-response' })]);
    const minted = rotation.newTokens(credential);
    const live = minted.filter((token) => rotation.world.state.isActive(token));
    expect(live.map((token) => String(token.id))).toEqual([result.newTokenId]);
    expect(minted.length).toBeLessThanOrEqual(2);
    expect(rotation.world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    const { data } = await vault.read(credential.vault);
    expect(data.tokenId).toBe(String(result.newTokenId));
    expect(rotation.targetValues(credential)).toEqual([defined(live[0]).value]);
    expect(rotation.audited(credential).filter((entry) => entry.event === 'issued')).toHaveLength(1);
  });

  it('revokes the token a mint staged before its worker died, when the recovery cannot go on and rolls back', async () => {
    const credential = await rotation.seed('staged-crash');
    rotation.writeInventory();
    killWorkers();
    // The first worker reaches Vault through a relay that lets the staging write through, loses its answer
    // and kills the worker: the token is minted and staged, and nobody hears of it.
    const relay = await httpRelay(servers.vault.endpoint);
    const first = await startWorker(relay.url);
    let crashed: Promise<void> | undefined;
    relay.loseAnswerOf((request) => {
      const staging = request.method !== 'GET' && (request.url ?? '').endsWith('/staged');
      if (staging) crashed = first.crash();
      return staging;
    });
    // Finding what the lost mint left is refused, so the rotation rolls back instead of taking the token up.
    const list = { method: 'GET', route: '/projects/:id/access_tokens' };
    const { sim } = rotation.world;
    sim.faults.failNth({ ...list, n: sim.callsTotal(list.method, list.route) + 1, status: 403 });
    try {
      const handle = await startRotation(client, taskQueue, {
        credentialId: credential.id,
        reason: 'manual',
        requestedBy: 'alice',
        force: true,
      });
      await until(async () => crashed !== undefined);
      await crashed;
      await startWorker();
      const error = await handle.result().catch((e: unknown) => e);

      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause?.message).toMatch(/find orphans failed \(auth: /);
      const minted = rotation.newTokens(credential);
      expect(minted).toHaveLength(1);
      expect(minted.map((token) => token.revoked)).toEqual([true]);
      expect(rotation.world.state.isActive(credential.old)).toBe(true);
      expect((await vault.read(credential.vault)).ref.version).toBe(1);
    } finally {
      await relay.close();
    }
  });

  it('finishes a rotation whose worker died during the overlap window: rotated once, old token revoked', async () => {
    const credential = await rotation.seed('overlap-crash', { overlap: '5s' });
    rotation.writeInventory();
    await expectRotatedOnce(credential, await crashAt(credential, 'overlapping'));
  });

  it('leaves no token value in what the worker processes printed, and an intact audit chain', async () => {
    const output = workers.map((worker) => worker.output()).join('\n');
    expect(output).toContain('Worker state changed');
    for (const value of [...rotation.world.state.minted, rotation.world.adminToken.value]) {
      expect(output).not.toContain(value);
    }
    // Each new process continues the chain from the last entry the killed one wrote.
    expect(await verifyAuditLog(rotation.auditLog, testAuditTrust(rotation.auditLog))).toMatchObject({
      ok: true,
    });
  });
});
