import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { fingerprintOf } from '../../src/fingerprint';
import { startBreakGlass } from '../../src/incidents/start';
import { breakGlassWorkflowId, type BreakGlassRequest } from '../../src/incidents/request';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { approve } from '../../workflows/operator';
import { statusQuery, type RotationStatus } from '../../workflows/status';
import { defined } from '../gitlab/world';
import { historyText } from '../helpers/history';
import { rotationWorld, until, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import { signedApproval } from '../helpers/ssh';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

const vault = new VaultKvStore(testServers().vault);
const taskQueue = `break-glass-${randomUUID()}`;
const TOKENS = '/projects/:id/access_tokens';
let world: RotationWorld;
let running: TestWorker;
const seeded: Record<string, SeededCredential> = {};
/** Every workflow these tests start, for the history scan at the end. */
const started: { workflowId: string; runId: string }[] = [];

beforeAll(async () => {
  world = await rotationWorld(vault);
  for (const name of [
    'current',
    'previous',
    'twice',
    'issue-fails',
    'revoke-fails',
    'leaked-new',
    'in-place',
  ])
    seeded[name] = await world.seed(name, {
      pausesSchedules: true,
      groupVariable: true,
      ...(name === 'in-place' ? { strategy: 'rotate-in-place' as const } : {}),
    });
  seeded['live-previous'] = await world.seed('live-previous');
  seeded.approval = await world.seed('approval', { requireApproval: true });
  seeded.reviewed = await world.seed('reviewed', { breakGlassReview: true });
  seeded.overlap = await world.seed('overlap', { overlap: '1h' });
  seeded['leaked-new-overlap'] = await world.seed('leaked-new-overlap', { overlap: '1h' });
  world.writeInventory();
  running = await world.startWorker(taskQueue);
});

afterAll(async () => {
  await running?.stop();
  await world?.close();
});

/** The alert intake's request for a leak of `token` (the seeded one unless named), matched to `version`. */
function leak(
  credential: SeededCredential,
  {
    token = credential.old,
    version = 'current',
  }: { token?: { id: number; value: string }; version?: 'current' | 'previous' } = {},
): BreakGlassRequest {
  return {
    credentialId: credential.id,
    leaked: { fingerprint: fingerprintOf(token.value), field: 'token', version, tokenId: String(token.id) },
    alert: {
      source: 'webhook',
      id: `alert-${randomUUID()}`,
      receivedAt: new Date().toISOString(),
      url: 'https://scanner.example/alerts/1',
    },
    requestedBy: 'alert-intake',
  };
}

async function breakGlass(request: BreakGlassRequest) {
  const handle = await startBreakGlass(running.client, taskQueue, request);
  started.push({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
  return handle;
}

async function rotation(credential: SeededCredential) {
  const handle = await startRotation(running.client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
  started.push({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
  return handle;
}

const inPhase = (handle: WorkflowHandle, phase: RotationStatus['phase']) =>
  until(async () => (await handle.query(statusQuery)).phase === phase);

/** The simulator's calls as `METHOD route`, in order. */
const calls = () => world.world.sim.calls.map(({ method, route }) => `${method} ${route}`);

/** The steps of the timeline, without the decisions recorded between them. */
const steps = (status: RotationStatus) =>
  status.timeline.filter(({ startedAt, endedAt }) => startedAt !== endedAt).map(({ step }) => step);

describe('the break-glass rotation', () => {
  it('revokes a leaked current token before anything is minted, replaces it without overlap, and records the incident', async () => {
    const credential = defined(seeded.current);
    world.world.sim.calls.length = 0;
    const status = await (await breakGlass(leak(credential))).result();

    const order = calls();
    const revoked = order.indexOf(`DELETE ${TOKENS}/:token_id`);
    expect(revoked).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(`POST ${TOKENS}`)).toBeGreaterThan(revoked);
    expect(order).not.toContain(`POST ${TOKENS}/:token_id/rotate`);
    await world.expectRotatedOnce(credential);
    const fresh = defined(world.newTokens(credential)[0]);

    expect(status).toMatchObject({ phase: 'done', outcome: 'rotated', newTokenId: String(fresh.id) });
    expect(steps(status)).toEqual([
      'load',
      `preempt rotate/${credential.id}`,
      'detect',
      'pause dependents',
      'revoke leaked',
      'issue',
      'verify',
      'distribute',
      'promote',
      'resume dependents',
    ]);
    const incident = defined(status.incident);
    expect(incident).toMatchObject({
      alert: { source: 'webhook', url: 'https://scanner.example/alerts/1' },
      leaked: { version: 'current', field: 'token', tokenId: String(credential.old.id) },
    });
    expect(incident.deadTokenInTargets).toBeUndefined();
    const { alertReceivedAt, matchedAt, leakedRevokedAt, newTokenLiveAt, dependentsResumedAt } =
      incident.timeline;
    const moments = [alertReceivedAt, matchedAt, leakedRevokedAt, newTokenLiveAt, dependentsResumedAt];
    expect(moments.every((moment) => moment !== undefined)).toBe(true);
    const times = moments.map((moment) => Date.parse(defined(moment)));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(incident.secondsToRevocation).toBe(
      Math.round(Date.parse(defined(leakedRevokedAt)) - Date.parse(alertReceivedAt)) / 1000,
    );
    const events = world.audited(credential).map(({ event, tokenId }) => `${event} ${tokenId ?? ''}`.trim());
    expect(events.indexOf(`revoked ${credential.old.id}`)).toBeLessThan(events.indexOf(`issued ${fresh.id}`));
  });

  it('creates the replacement beside a leaked token whose strategy rotates in place: a revoked token is not rotated', async () => {
    const credential = defined(seeded['in-place']);
    const status = await (await breakGlass(leak(credential))).result();
    expect(status.outcome).toBe('rotated');
    await world.expectRotatedOnce(credential);
  });

  it('confirms at the provider that a leaked previous version is revoked already, and rotates nothing', async () => {
    const credential = defined(seeded.previous);
    expect((await (await rotation(credential)).result()).outcome).toBe('rotated');
    world.world.sim.calls.length = 0;

    const status = await (await breakGlass(leak(credential, { version: 'previous' }))).result();

    expect(status.outcome).toBe('already-revoked');
    expect(status.incident?.preempted).toBeUndefined();
    expect(status.incident?.timeline.leakedConfirmedRevokedAt).toBeDefined();
    expect(status.incident?.timeline.leakedRevokedAt).toBeUndefined();
    expect(calls().filter((call) => !call.startsWith('GET '))).toEqual([]);
    await world.expectRotatedOnce(credential);
  });

  it('revokes a leaked previous version still live (a revoke that never happened), and rotates nothing', async () => {
    const credential = defined(seeded['live-previous']);
    const { state, project } = world.world;
    // Written by hand, as an operator who replaced the token without revoking the old one would.
    const replacement = state.addResourceToken(project, 'project', {
      name: credential.old.name,
      scopes: ['read_api'],
      expiresAt: '2099-12-31',
      accessLevel: 30,
    });
    await vault.write(credential.vault, {
      token: replacement.value,
      tokenId: String(replacement.id),
      expiresAt: '2099-12-31',
    });

    const status = await (await breakGlass(leak(credential, { version: 'previous' }))).result();

    expect(status.outcome).toBe('leaked-revoked');
    expect(state.tokens.get(credential.old.id)?.revoked).toBe(true);
    expect(state.isActive(replacement)).toBe(true);
    expect((await vault.read(credential.vault)).ref.version).toBe(2);
    expect(status.incident?.timeline.leakedRevokedAt).toBeDefined();
    expect(status.incident?.secondsToRevocation).toEqual(expect.any(Number));
    expect(world.audited(credential).at(-1)).toMatchObject({
      event: 'revoked',
      step: 'revoke leaked',
      tokenId: String(credential.old.id),
    });
  });

  it('aborts a normal rotation awaiting approval, then revokes and replaces the leaked token', async () => {
    const credential = defined(seeded.approval);
    const normal = await rotation(credential);
    await inPhase(normal, 'awaiting-approval');

    const status = await (await breakGlass(leak(credential))).result();

    expect(await normal.result()).toMatchObject({
      outcome: 'cancelled',
      abortedBy: { requestedBy: 'alert-intake' },
    });
    expect(status).toMatchObject({
      outcome: 'rotated',
      incident: { preempted: { phase: 'awaiting-approval', action: 'aborted', outcome: 'cancelled' } },
    });
    await world.expectRotatedOnce(credential);
  });

  it("in a normal rotation's overlap window, with the old token leaked: ends the overlap, which revokes it, and rotates nothing more", async () => {
    const credential = defined(seeded.overlap);
    const normal = await rotation(credential);
    await inPhase(normal, 'overlapping');
    const fresh = defined(world.newTokens(credential)[0]);

    const status = await (await breakGlass(leak(credential, { version: 'previous' }))).result();

    expect(await normal.result()).toMatchObject({ outcome: 'rotated' });
    expect(status).toMatchObject({
      outcome: 'already-revoked',
      incident: { preempted: { phase: 'overlapping', action: 'overlap-ended', outcome: 'rotated' } },
    });
    expect(status.incident?.timeline.leakedRevokedAt).toBeDefined();
    expect(status.incident?.secondsToRevocation).toEqual(expect.any(Number));
    expect(world.world.state.isActive(fresh)).toBe(true);
    await world.expectRotatedOnce(credential);
  });

  it("in a normal rotation's overlap window, with the new token leaked: ends the overlap, then revokes and replaces the new one", async () => {
    const credential = defined(seeded['leaked-new-overlap']);
    const normal = await rotation(credential);
    await inPhase(normal, 'overlapping');
    const leakedNew = defined(world.newTokens(credential)[0]);

    const status = await (await breakGlass(leak(credential, { token: leakedNew }))).result();

    expect(await normal.result()).toMatchObject({ outcome: 'rotated' });
    expect(status).toMatchObject({ outcome: 'rotated', oldTokenId: String(leakedNew.id) });
    const tokens = world.newTokens(credential);
    expect(tokens.map(({ revoked }) => revoked)).toEqual([true, false]);
    const replacement = defined(tokens[1]);
    expect(world.world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    expect(world.targetValues(credential)).toEqual([replacement.value]);
    expect((await vault.read(credential.vault)).data).toMatchObject({ tokenId: String(replacement.id) });
  });

  it('with breakGlassReview, stays open in awaiting-review until an approver acknowledges it with a signed approval', async () => {
    const credential = defined(seeded.reviewed);
    const handle = await breakGlass(leak(credential));
    await inPhase(handle, 'awaiting-review');
    const waiting = await handle.query(statusQuery);
    // The leak is contained before anyone reviews: revoked, replaced, live in every target.
    expect(waiting.incident?.timeline).toMatchObject({
      leakedRevokedAt: expect.any(String),
      newTokenLiveAt: expect.any(String),
      dependentsResumedAt: expect.any(String),
    });
    expect(world.world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    // An approval signed for another rotation's facts is refused; one signed for this one is taken.
    const bob = world.approvers.bob;
    const facts = { credentialId: credential.id, requestedBy: 'alert-intake' };
    const own = await signedApproval(handle, bob, 'bob', { ...facts, requestedBy: 'bob' });
    await expect(handle.executeUpdate(approve, { args: [own] })).rejects.toThrow();
    await handle.executeUpdate(approve, { args: [await signedApproval(handle, bob, 'bob', facts)] });
    const status = await handle.result();

    expect(status.outcome).toBe('rotated');
    expect(status.incident?.timeline).toMatchObject({ reviewedBy: 'bob', reviewedAt: expect.any(String) });
    const audited = world.audited(credential).map(({ event, actor }) => `${event} ${actor}`);
    expect(audited.slice(-2)).toEqual(['approved bob', 'reviewed alert-intake']);
  });

  it('joins the running break-glass rotation when the same alert comes twice: one rotation, not two', async () => {
    const credential = defined(seeded.twice);
    const request = leak(credential);
    const [first, second] = await Promise.all([breakGlass(request), breakGlass(request)]);

    expect(second.firstExecutionRunId).toBe(first.firstExecutionRunId);
    expect((await first.result()).outcome).toBe('rotated');
    await world.expectRotatedOnce(credential);
  });

  it('keeps the leaked token revoked when issue fails after it, and ends failed with an alert', async () => {
    const credential = defined(seeded['issue-fails']);
    const sim = world.world.sim;
    sim.faults.failNth({ method: 'POST', route: TOKENS, n: sim.callsTotal('POST', TOKENS) + 1, status: 400 });
    const handle = await breakGlass(leak(credential));

    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ phase: 'done', outcome: 'failed' });
    expect(status.alerts).toContainEqual(
      expect.stringContaining(`leaked token ${credential.old.id} stays revoked (it is never un-revoked)`),
    );
    expect(world.world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    expect(world.newTokens(credential)).toEqual([]);
    expect(status.incident?.timeline.leakedRevokedAt).toBeDefined();
    expect(status.incident?.timeline.newTokenLiveAt).toBeUndefined();
  });

  it('says the leaked token is NOT revoked, and to revoke it by hand, when its revoke fails', async () => {
    const credential = defined(seeded['revoke-fails']);
    const sim = world.world.sim;
    const route = `${TOKENS}/:token_id`;
    sim.faults.failNth({ method: 'DELETE', route, n: sim.callsTotal('DELETE', route) + 1, status: 400 });
    const handle = await breakGlass(leak(credential));

    await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ phase: 'done', outcome: 'failed' });
    expect(status.alerts).toContainEqual(
      expect.stringContaining(`leaked token ${credential.old.id} is NOT revoked (step revoke leaked failed)`),
    );
    expect(world.world.state.isActive(credential.old)).toBe(true);
    expect(world.newTokens(credential)).toEqual([]);
    expect(status.incident?.timeline.leakedRevokedAt).toBeUndefined();
  });

  it('refuses a request that does not parse, naming its path, and starts nothing', async () => {
    const credential = defined(seeded.current);
    const request = leak(credential);
    const bad = {
      ...request,
      credentialId: `${credential.id}-bad`,
      leaked: { ...request.leaked, fingerprint: 'md5:abc' },
    };
    await expect(startBreakGlass(running.client, taskQueue, bad)).rejects.toThrow(
      'leaked.fingerprint: a sha256:v1 fingerprint',
    );
    await expect(
      running.client.workflow.getHandle(breakGlassWorkflowId(bad.credentialId)).describe(),
    ).rejects.toThrow(WorkflowNotFoundError);
    const input = { ...request, credentialId: `${credential.id}-direct` };
    // Straight to the workflow, with a fingerprint (of no real token) that never belongs in a history.
    const direct = await running.client.workflow.start('breakGlass', {
      taskQueue,
      workflowId: breakGlassWorkflowId(input.credentialId),
      args: [{ ...input, leaked: { ...input.leaked, fingerprint: `sha256:v1:${'0'.repeat(64)}` } }],
    });
    started.push({ workflowId: direct.workflowId, runId: direct.firstExecutionRunId });
    await expect(direct.result()).rejects.toMatchObject({
      cause: { message: expect.stringContaining('leaked.fingerprint: unknown key') },
    });
  });

  it('keeps every token value and fingerprint out of every history it made, and each replays with the current code', async () => {
    const secrets = Object.values(seeded).flatMap((credential) =>
      [credential.old, ...world.newTokens(credential)].flatMap(({ value }) => [value, fingerprintOf(value)]),
    );
    expect(started.length).toBeGreaterThan(0);
    for (const { workflowId, runId } of started) {
      const text = historyText(await running.client.workflow.getHandle(workflowId, runId).fetchHistory());
      for (const secret of secrets) expect(text.includes(secret)).toBe(false);
    }
    const histories = await Promise.all(
      started.map(async ({ workflowId, runId }) => ({
        workflowId,
        history: await running.client.workflow.getHandle(workflowId, runId).fetchHistory(),
      })),
    );
    let replayed = 0;
    for await (const replay of Worker.runReplayHistories(
      { workflowsPath: require.resolve('../../workflows') },
      histories,
    )) {
      expect(replay.error).toBeUndefined();
      replayed += 1;
    }
    expect(replayed).toBe(started.length);
  });
});
