import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { abort, approve, retryRollback, statusQuery } from '../../workflows';
import { defined } from '../gitlab/world';
import { ROTATION_STEPS, rotationWorld, until, type RotationWorld } from '../helpers/rotation';
import { signedApproval } from '../helpers/ssh';
import { httpRelay, type HttpRelay } from '../helpers/http-relay';
import { startTestWorker, type TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';
import { testAuditSink } from '../helpers/audit';

const servers = testServers();
const vault = new VaultKvStore(servers.vault);
const taskQueue = `recovery-${randomUUID()}`;
let rotation: RotationWorld;
let outage: HttpRelay;
let running: TestWorker;

/*
 * The worker reaches Vault through a relay the tests can take down; the tests themselves read and write
 * Vault directly.
 */
beforeAll(async () => {
  rotation = await rotationWorld(vault);
  outage = await httpRelay(servers.vault.endpoint);
  running = await startTestWorker({
    taskQueue,
    vault: new VaultKvStore({ ...servers.vault, endpoint: outage.url }),
    inventoryPath: rotation.inventoryPath,
    audit: testAuditSink(rotation.auditLog),
  });
});

afterAll(async () => {
  await running?.stop();
  await outage?.close();
  await rotation?.close();
});

afterEach(() => outage.up());

const start = (credentialId: string, extra: { vaultWaitSeconds?: number; rollbackAttempts?: number } = {}) =>
  startRotation(running.client, taskQueue, {
    credentialId,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
    ...extra,
  });
/** Vault goes away at promote: the first write to the credential's current path (not its staged one). */
const downAtPromote = (at: { mount: string; path: string }) =>
  outage.goDownOn((request) => request.method !== 'GET' && request.url === `/v1/${at.mount}/data/${at.path}`);
const steps = (status: { timeline: { step: string; result?: string }[] }) =>
  status.timeline.map((entry) => [entry.step, entry.result]);

describe('recovering a step whose retries are spent (real Temporal and Vault, GitLab simulator)', () => {
  it('waits out a rate limit that outlasts the retries, tries once more, and rotates', async () => {
    const credential = await rotation.seed('rate-limited');
    rotation.writeInventory();
    const route = '/projects/:id/variables/:key';
    const { sim } = rotation.world;
    const first = sim.callsTotal('PUT', route) + 1;
    // Five answers of 429 spend the write's five attempts; the sixth call, after recovery, goes through.
    for (let n = first; n < first + 5; n += 1) {
      sim.faults.failNth({ method: 'PUT', route, n, status: 429, retryAfterSeconds: 1 });
    }
    const result = await (await start(credential.id)).result();

    expect(result.outcome).toBe('rotated');
    expect(result.failures).toEqual([
      expect.objectContaining({
        step: expect.stringMatching(/^write project .* CI variable/),
        class: 'rate-limited',
        message: expect.stringContaining('HTTP 429'),
        recovery: 'waited 1s for the rate limit, then tried once more',
        recovered: true,
      }),
    ]);
    const distributeAt = ROTATION_STEPS.indexOf('distribute');
    expect(result.timeline).toContainEqual(
      expect.objectContaining({ step: 'wait out the rate limit (1s)', recovery: true }),
    );
    expect(steps(result)).toEqual([
      ...ROTATION_STEPS.slice(0, distributeAt + 1).map((step) => [step, 'ok']),
      ['wait out the rate limit (1s)', 'ok'],
      ...ROTATION_STEPS.slice(distributeAt + 1).map((step) => [step, 'ok']),
    ]);
    await rotation.expectRotatedOnce(credential);
    const entries = rotation.audited(credential);
    expect(entries.map((entry) => entry.event)).toEqual([
      'started',
      'issued',
      'verified',
      'recovered',
      'distributed',
      'promoted',
      'revoked',
    ]);
    expect(entries[3]?.detail).toMatch(/was rate-limited: waited 1s for the rate limit/);
  });

  it('waits for Vault when it vanishes at promote, and finishes once it is back', async () => {
    const credential = await rotation.seed('vault-back');
    rotation.writeInventory();
    downAtPromote(credential.vault);
    const handle = await start(credential.id);
    await until(async () =>
      (await handle.query(statusQuery)).timeline.some((entry) => entry.step === 'wait for the store'),
    );
    expect((await handle.query(statusQuery)).phase).toBe('recovering');
    outage.up();
    const result = await handle.result();

    expect(result.outcome).toBe('rotated');
    expect(result.failures).toEqual([
      expect.objectContaining({
        step: 'promote',
        class: 'store-unavailable',
        message: expect.stringContaining('could not be reached'),
        recovered: true,
      }),
    ]);
    expect(steps(result)).toContainEqual(['wait for the store', 'ok']);
    await rotation.expectRotatedOnce(credential);
  });

  it('rolls back when Vault stays away past the bounded wait; an operator finishes the rollback once it is back', async () => {
    const credential = await rotation.seed('vault-gone');
    rotation.writeInventory();
    downAtPromote(credential.vault);
    const handle = await start(credential.id, { vaultWaitSeconds: 2, rollbackAttempts: 1 });
    // Restoring the targets needs the old value from Vault, so the rollback waits for an operator.
    await until(async () => (await handle.query(statusQuery)).phase === 'needs-operator');
    const waiting = await handle.query(statusQuery);
    expect(waiting.phase).toBe('needs-operator');
    expect(waiting.failures).toEqual([
      expect.objectContaining({
        step: 'promote',
        class: 'store-unavailable',
        recovery: expect.stringMatching(
          /^waited for the store in vain \(Vault \S+ did not come back within 2s: /,
        ),
        recovered: false,
      }),
    ]);
    expect(steps(waiting)).toContainEqual(['wait for the store', 'failed']);

    outage.up();
    await handle.executeUpdate(retryRollback, { args: [{ requestedBy: 'carol' }] });
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = defined((error as WorkflowFailedError).cause);
    expect(cause.message).toMatch(
      /^rotate \S+-vault-gone: promote failed \(store-unavailable: Vault (read|write) .* could not be reached/,
    );
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('rolled-back');
    expect(rotation.world.state.isActive(credential.old)).toBe(true);
    expect(rotation.newTokens(credential).map((token) => token.revoked)).toEqual([true]);
    expect(rotation.targetValues(credential)).toEqual([credential.old.value]);
    expect((await vault.read(credential.vault)).ref.version).toBe(1);
  });

  it('alerts that no live token is left when Vault refuses to stage the value a rotate-in-place minted', async () => {
    const credential = await rotation.seed('in-place-lost', {
      strategy: 'rotate-in-place',
      requireApproval: true,
    });
    rotation.writeInventory();
    const handle = await start(credential.id);
    await until(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval');
    // Someone else stages a value after detect: the rotation's check-and-set write is refused.
    await vault.write({ ...credential.vault, path: `${credential.vault.path}/staged` }, { note: 'not ours' });
    const approval = await signedApproval(handle, rotation.approvers.bob, 'bob', {
      credentialId: credential.id,
      requestedBy: 'alice',
    });
    await handle.executeUpdate(approve, { args: [approval] });
    const error = await handle.result().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = defined((error as WorkflowFailedError).cause);
    expect(cause.message).toMatch(
      /^rotate \S+-in-place-lost: issue failed \(permanent: issue: .* NO live token/,
    );
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('compromised-or-lost');
    expect(status.alerts).toEqual([expect.stringContaining('An operator must create one by hand')]);
    expect(status.failures).toEqual([expect.objectContaining({ step: 'issue', class: 'permanent' })]);
    // The old token died rotating; its replacement, which nobody could ever read, was revoked.
    const minted = rotation.newTokens(credential);
    expect(minted.map((token) => token.revoked)).toEqual([true]);
    expect(rotation.world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    expect(rotation.targetValues(credential)).toEqual([credential.old.value]);
    expect((await vault.read(credential.vault)).ref.version).toBe(1);
    expect(rotation.audited(credential).map((entry) => [entry.event, entry.outcome])).toEqual([
      ['started', 'ok'],
      ['approved', 'ok'],
      ['failed', 'compromised-or-lost'],
    ]);
  });
});

describe('abort: an operator stops a rotation and it rolls back', () => {
  it('during the overlap window: dependents paused again, targets and Vault back to the old token, new one revoked', async () => {
    const { world } = rotation;
    world.state.addSchedule(world.project, { description: 'nightly', active: true, ownerId: world.root.id });
    const credential = await rotation.seed('abort-overlap', { overlap: '1h', pausesSchedules: true });
    rotation.writeInventory();
    const handle = await start(credential.id);
    await until(async () => (await handle.query(statusQuery)).phase === 'overlapping');
    const refused = await handle
      .executeUpdate(abort, { args: [{ requestedBy: 'bob', reason: ' ' }] })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ cause: { message: 'expected reason: why the rotation is aborted' } });
    await handle.executeUpdate(abort, { args: [{ requestedBy: 'bob', reason: 'runner leaked' }] });
    const error = await handle.result().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = defined((error as WorkflowFailedError).cause);
    expect(cause).toMatchObject({ type: 'RotationRolledBack' });
    expect(cause.message).toMatch(
      /^rotate \S+-abort-overlap: aborted by bob while overlapping \(runner leaked\); rolled back: /,
    );
    expect(cause.message).not.toContain('FAILED');
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ outcome: 'rolled-back', abortedBy: { requestedBy: 'bob' } });
    expect(steps(status).slice(-3)).toEqual([
      ['overlap window', 'ok'],
      ['aborted by bob: runner leaked', 'ok'],
      ['pause dependents again', 'ok'],
    ]);
    expect(rotation.world.state.isActive(credential.old)).toBe(true);
    expect(rotation.newTokens(credential).map((token) => token.revoked)).toEqual([true]);
    expect(rotation.targetValues(credential)).toEqual([credential.old.value]);
    const current = await vault.read(credential.vault);
    expect(current.data.tokenId).toBe(String(credential.old.id));
    expect(world.project.schedules.map((schedule) => schedule.active)).toEqual([true]);
    const events = rotation.audited(credential).map((entry) => entry.event);
    expect(events.slice(-5)).toEqual(['resumed', 'paused', 'revoked', 'resumed', 'rolled back']);
  });

  it('while awaiting approval: cancelled, nothing changed; a finished rotation refuses abort', async () => {
    const credential = await rotation.seed('abort-approval', { requireApproval: true });
    rotation.writeInventory();
    const handle = await start(credential.id);
    await until(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval');
    await handle.executeUpdate(abort, { args: [{ requestedBy: 'bob', reason: 'wrong credential' }] });
    const result = await handle.result();

    expect(result).toMatchObject({
      outcome: 'cancelled',
      detail: expect.stringMatching(
        /^aborted by bob before approval \(wrong credential\): nothing was changed/,
      ),
    });
    expect(rotation.newTokens(credential)).toEqual([]);
    await expect(
      handle.executeUpdate(abort, { args: [{ requestedBy: 'bob', reason: 'again' }] }),
    ).rejects.toThrow();
  });
});
