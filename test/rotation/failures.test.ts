import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { statusQuery } from '../../workflows';
import { defined } from '../gitlab/world';
import {
  ROTATED_EVENTS,
  ROTATION_STEPS,
  rotationWorld,
  until,
  type RotationWorld,
  type SeededCredential,
} from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

const vault = new VaultKvStore(testServers().vault);
const taskQueue = `failures-${randomUUID()}`;
let rotation: RotationWorld;
let running: TestWorker;
const seeded: Record<string, SeededCredential> = {};

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  const { world } = rotation;
  world.state.addSchedule(world.project, { description: 'nightly', active: true, ownerId: world.root.id });
  world.state.addSchedule(world.project, { description: 'off', active: false, ownerId: world.root.id });
  for (const name of ['verify-refused', 'conflict']) {
    seeded[name] = await rotation.seed(name, { groupVariable: true, pausesSchedules: true });
  }
  for (const name of ['unavailable', 'rate-limited', 'detect-rate-limited'])
    seeded[name] = await rotation.seed(name);
  rotation.writeInventory();
  running = await rotation.startWorker(taskQueue);
});

afterAll(async () => {
  await running?.stop();
  await rotation?.close();
});

const start = (credential: SeededCredential) =>
  startRotation(running.client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
const rolledBackCause = async (handle: Awaited<ReturnType<typeof start>>) => {
  const error = await handle.result().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  return defined((error as WorkflowFailedError).cause);
};
const steps = async (handle: Awaited<ReturnType<typeof start>>) =>
  (await handle.query(statusQuery)).timeline.map((entry) => [entry.step, entry.result]);
const schedulesActive = () => rotation.world.project.schedules.map((schedule) => schedule.active);
const UNTIL_DISTRIBUTE = ROTATION_STEPS.slice(0, ROTATION_STEPS.indexOf('distribute'));

describe('rotation failures on the real Temporal and Vault with the GitLab simulator', () => {
  it('rolls back when GitLab refuses the new token’s own lookup: new token revoked, nothing else changed', async () => {
    const credential = defined(seeded['verify-refused']);
    const route = '/personal_access_tokens/self';
    const { sim } = rotation.world;
    sim.faults.failNth({ method: 'GET', route, n: sim.callsTotal('GET', route) + 1, status: 401 });
    const handle = await start(credential);
    const cause = await rolledBackCause(handle);

    expect(cause).toMatchObject({ type: 'RotationRolledBack' });
    expect(cause.message).toMatch(
      /^rotate \S+-verify-refused: verify failed \(.*HTTP 401.*\); rolled back: /,
    );
    expect(cause.message).not.toContain('FAILED');
    expect(await steps(handle)).toEqual([
      ...UNTIL_DISTRIBUTE.slice(0, -1).map((s) => [s, 'ok']),
      ['verify', 'failed'],
    ]);
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ outcome: 'rolled-back', versions: { current: 1 } });
    expect(status.failures).toEqual([
      expect.objectContaining({
        step: 'verify',
        class: 'auth',
        recovery: 'none: no fallbackCredential is configured for this provider',
        recovered: false,
      }),
    ]);
    expect(status.targets.map((target) => target.state)).toEqual(['unchanged', 'unchanged']);
    const minted = rotation.newTokens(credential);
    expect(minted.map((token) => [String(token.id), token.revoked])).toEqual([[status.newTokenId, true]]);
    expect(rotation.world.state.isActive(credential.old)).toBe(true);
    expect(rotation.targetValues(credential)).toEqual([credential.old.value, credential.old.value]);
    expect((await vault.read(credential.vault)).ref.version).toBe(1);
    expect(schedulesActive()).toEqual([true, false]);
    expect(rotation.audited(credential).map((entry) => [entry.event, entry.tokenId])).toEqual([
      ['started', String(credential.old.id)],
      ['paused', undefined],
      ['issued', status.newTokenId],
      ['revoked', status.newTokenId],
      ['resumed', undefined],
      ['rolled back', undefined],
    ]);
  });

  it.each([
    ['unavailable', { status: 503 }],
    ['rate-limited', { status: 429, retryAfterSeconds: 1 }],
  ])(
    'rotates through a target write GitLab refuses once as %s: one token minted, live everywhere',
    async (name, failure) => {
      const credential = defined(seeded[name]);
      const route = '/projects/:id/variables/:key';
      const { sim } = rotation.world;
      sim.faults.failNth({ method: 'PUT', route, n: sim.callsTotal('PUT', route) + 1, ...failure });
      const result = await (await start(credential)).result();

      expect(result).toMatchObject({ outcome: 'rotated', versions: { current: 2, previous: 1 } });
      expect(result.timeline.map((entry) => [entry.step, entry.result])).toEqual(
        ROTATION_STEPS.map((step) => [step, 'ok']),
      );
      await rotation.expectRotatedOnce(credential);
      expect(rotation.audited(credential).map((entry) => entry.event)).toEqual([
        'started',
        'issued',
        'verified',
        'distributed',
        'promoted',
        'revoked',
      ]);
    },
  );

  it('rolls back when someone writes the Vault secret mid-rotation, keeping their version: promote never overwrites', async () => {
    const credential = defined(seeded.conflict);
    const { sim } = rotation.world;
    // Slow answers keep the rotation in distribute while the other writer writes.
    sim.faults.latency(300);
    let theirs: Awaited<ReturnType<typeof vault.write>>;
    try {
      const handle = await start(credential);
      await until(async () => (await handle.query(statusQuery)).phase === 'distributing');
      theirs = await vault.write(credential.vault, { token: 'someone-elses-value', tokenId: '999999' });
      sim.faults.latency(0);
      const cause = await rolledBackCause(handle);

      expect(cause).toMatchObject({ type: 'RotationRolledBack' });
      expect(cause.message).toMatch(
        /^rotate \S+-conflict: promote failed \(conflict: promote: Vault \S+ is at v2, not v1 as read at detect: someone else changed it, so it is not overwritten\); rolled back: /,
      );
      expect(cause.message).not.toContain('FAILED');
      expect(await steps(handle)).toEqual([
        ...[...UNTIL_DISTRIBUTE, 'distribute'].map((s) => [s, 'ok']),
        ['promote', 'failed'],
      ]);
      const status = await handle.query(statusQuery);
      // Vault's current version is theirs: rollback left it as it was.
      expect(status).toMatchObject({
        outcome: 'rolled-back',
        versions: { current: theirs.version, staged: 1 },
      });
      expect(status.failures).toEqual([
        expect.objectContaining({ step: 'promote', class: 'conflict', recovered: false }),
      ]);
      expect(status.targets.map((target) => target.state)).toEqual(['restored', 'restored']);
      const minted = rotation.newTokens(credential);
      expect(minted.map((token) => [String(token.id), token.revoked])).toEqual([[status.newTokenId, true]]);
      expect(rotation.audited(credential).map((entry) => entry.event)).toEqual([
        ...ROTATED_EVENTS.slice(0, 6),
        'revoked',
        'resumed',
        'rolled back',
      ]);
    } finally {
      sim.faults.latency(0);
    }
    const now = await vault.read(credential.vault);
    expect(now.ref.version).toBe(theirs.version);
    expect(now.data).toEqual({ token: 'someone-elses-value', tokenId: '999999' });
    expect(rotation.world.state.isActive(credential.old)).toBe(true);
    expect(rotation.targetValues(credential)).toEqual([credential.old.value, credential.old.value]);
    expect(schedulesActive()).toEqual([true, false]);
  });

  it('waits out a rate limit that outlasts the retries of detect, then rotates', async () => {
    const credential = defined(seeded['detect-rate-limited']);
    const route = '/projects/:id/access_tokens/:token_id';
    const { sim } = rotation.world;
    const n = sim.callsTotal('GET', route);
    for (let k = 1; k <= 5; k += 1)
      sim.faults.failNth({ method: 'GET', route, n: n + k, status: 429, retryAfterSeconds: 1 });
    const result = await (await start(credential)).result();

    expect(result.outcome).toBe('rotated');
    expect(result.failures).toEqual([
      expect.objectContaining({ step: 'detect', class: 'rate-limited', recovered: true }),
    ]);
    expect(result.timeline.map((entry) => entry.step)).toEqual([
      'load',
      'detect',
      'wait out the rate limit (1s)',
      ...ROTATION_STEPS.slice(2),
    ]);
    await rotation.expectRotatedOnce(credential);
  });
});
