import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { abort, approve, endOverlapNow, extendOverlap, resolve, retryRollback } from '../../workflows';
import type { RotationStatus } from '../../workflows/status';
import {
  APPROVAL_KEY,
  CURRENT,
  HAPPY,
  NEW_TOKEN_ID,
  OLD_TOKEN,
  OLD_TOKEN_ID,
  PAUSED,
  PLAN,
  RUNNERS,
  SNAPSHOTS,
  STAGED,
  approvalBy,
  detecting,
  failing,
  failingFirst,
  failingWhile,
  fakeActivities,
  fakeActivityWorker,
  held,
  holding,
  planWith,
  providerError,
  vaultUnavailable,
  type ActivityName,
  type Fakes,
  type InputOf,
  type Rotation,
} from '../helpers/fake-activities';
import { HISTORY_FIXTURES, historyToFixture } from '../helpers/history';
import { ROTATION_STEPS } from '../helpers/rotation';

let worker: Awaited<ReturnType<typeof fakeActivityWorker>>;
beforeAll(async () => {
  worker = await fakeActivityWorker();
});
afterAll(() => worker.stop());

const rotate = (script: Partial<Fakes> = {}, request: Parameters<typeof worker.start>[1] = {}) =>
  worker.start(fakeActivities(script), request);

/**
 * With ROTATOR_RECORD_HISTORIES set (`npm run fixtures:record`), commits this rotation's history as a
 * fixture of that release: for ends that only scripted activities reach in a few seconds.
 */
const recordFixture = async (fixture: string, rotation: Rotation) => {
  const version = process.env.ROTATOR_RECORD_HISTORIES;
  if (version === undefined) return;
  mkdirSync(join(HISTORY_FIXTURES, version), { recursive: true });
  const history = await rotation.handle.fetchHistory();
  writeFileSync(join(HISTORY_FIXTURES, version, `${fixture}.json`), historyToFixture(history));
};

/** The steps in the timeline, and operators' decisions, without the recoveries between tries of a step. */
const stepsOf = (status: RotationStatus) =>
  status.timeline.filter((entry) => entry.recovery !== true).map(({ step }) => step);
/** The calls made after the last call to `name`. */
const callsAfter = (rotation: Rotation, name: ActivityName) => {
  const names = rotation.called();
  return names.slice(names.lastIndexOf(name) + 1);
};
/** What every rollback ends with: the outcome in the audit log, then the alert. */
const ROLLBACK_END: ActivityName[] = ['recordRotationOutcome', 'sendAlert'];
const groupVariable = PLAN.targets[1]?.ref;
/** Long enough that only an operator ends the wait within a test. */
const DAY_MS = 86_400_000;
const needsApproval = (approvalTimeout: number): Partial<Fakes> => ({
  loadCredential: async () => planWith({ policy: { requireApproval: true, approvalTimeout } }),
});
const longOverlap: Partial<Fakes> = { loadCredential: async () => planWith({ policy: { overlap: DAY_MS } }) };
const toGroupVariable = ({ target }: InputOf<'writeTarget'>) => isDeepStrictEqual(target, groupVariable);
/** A mint whose answer was lost: GitLab may have made the token. */
const lostAnswer = () => providerError('transient', { outcomeUnknown: true });
/** GitLab's rotate endpoint: the old token is revoked as the new one is made. */
const rotatedInPlace: Fakes['issueCredential'] = async (input) => ({
  ...(await HAPPY.issueCredential(input)),
  revokedTokenId: OLD_TOKEN_ID,
});
/** A token made a moment ago: not due unless forced. */
const freshToken = () => detecting({ ...OLD_TOKEN, createdAt: new Date().toISOString() });
const CREATE_THEN_REVOKE: ActivityName[] = [
  'loadCredential',
  'detectRotation',
  'pauseDependent',
  'issueCredential',
  'verifyCredential',
  'snapshotTargets',
  'writeTarget',
  'writeTarget',
  'promoteStaged',
  'resumeDependent',
  // Whether the old token is still used after the switch, before it is revoked.
  'inspectCredential',
  'revokeCredential',
];

describe('rotateCredential with scripted activities', () => {
  it('rotates create-then-revoke: pauses, issues, verifies, writes both targets, promotes, resumes, revokes old', async () => {
    const rotation = await rotate();
    const { status, failedWith } = await rotation.ended();

    expect(failedWith).toBeUndefined();
    expect(status).toMatchObject({
      phase: 'done',
      outcome: 'rotated',
      oldTokenId: OLD_TOKEN_ID,
      newTokenId: NEW_TOKEN_ID,
      versions: { current: CURRENT.version + 1, previous: CURRENT.version, staged: STAGED.version },
      targets: PLAN.targets.map(({ name }) => ({ name, state: 'written' })),
      failures: [],
      alerts: [],
    });
    expect(stepsOf(status)).toEqual(ROTATION_STEPS);
    expect(status.timeline.every(({ result }) => result === 'ok')).toBe(true);
    expect(rotation.called()).toEqual(CREATE_THEN_REVOKE);
    expect(rotation.inputsTo('pauseDependent')).toMatchObject([{ dependent: PLAN.dependents[0]?.ref }]);
    expect(rotation.inputsTo('issueCredential')).toMatchObject([
      { current: { tokenId: OLD_TOKEN_ID }, held: CURRENT, stage: { at: PLAN.store.ref, after: 0 } },
    ]);
    expect(rotation.inputsTo('verifyCredential')).toMatchObject([{ tokenId: NEW_TOKEN_ID, staged: STAGED }]);
    expect(rotation.inputsTo('writeTarget')).toEqual(
      expect.arrayContaining(
        PLAN.targets.map(({ ref }) => expect.objectContaining({ target: ref, value: STAGED })),
      ),
    );
    expect(rotation.inputsTo('promoteStaged')).toMatchObject([
      { store: PLAN.store.ref, staged: STAGED, replacing: CURRENT, tokenId: NEW_TOKEN_ID },
    ]);
    expect(rotation.inputsTo('resumeDependent')).toMatchObject([{ record: PAUSED }]);
    expect(rotation.inputsTo('revokeCredential')).toMatchObject([{ tokenId: OLD_TOKEN_ID }]);
  });

  it('marks the switch at the last target’s acknowledgement, not at the workflow’s clock, which stands still meanwhile', async () => {
    const lastWrite = new Date(Date.now() + 60 * 60_000).toISOString();
    const rotation = await rotate({
      writeTarget: async (input) => ({
        writtenAt: toGroupVariable(input) ? lastWrite : new Date().toISOString(),
      }),
    });
    const { status } = await rotation.ended();
    expect(status.outcome).toBe('rotated');
    expect(status.switchedAt).toBe(lastWrite);
  });

  it('rotates in place: the provider revoked the old token while issuing, so nothing revokes it at the end', async () => {
    const rotation = await rotate({
      loadCredential: async () => planWith({ strategy: 'rotate-in-place' }),
      issueCredential: rotatedInPlace,
    });
    const { status, failedWith } = await rotation.ended();

    expect(failedWith).toBeUndefined();
    expect(status).toMatchObject({ outcome: 'rotated', newTokenId: NEW_TOKEN_ID, alerts: [] });
    expect(stepsOf(status)).toEqual(ROTATION_STEPS.filter((step) => step !== 'revoke old'));
    expect(rotation.called()).toEqual(
      CREATE_THEN_REVOKE.filter((name) => name !== 'inspectCredential' && name !== 'revokeCredential'),
    );
  });

  it('skips a credential that is not due, changing nothing', async () => {
    const rotation = await rotate({ detectRotation: freshToken() });
    const { status, failedWith } = await rotation.ended();

    expect(failedWith).toBeUndefined();
    expect(status).toMatchObject({
      phase: 'done',
      outcome: 'not-due',
      detail: expect.stringMatching(/^not due/),
    });
    expect(rotation.called()).toEqual(['loadCredential', 'detectRotation']);
  });

  it('reports what a dry run would do and changes nothing', async () => {
    const rotation = await rotate({}, { dryRun: true });
    const { status, failedWith } = await rotation.ended();

    expect(failedWith).toBeUndefined();
    expect(status.outcome).toBe('dry-run');
    for (const { name } of [...PLAN.targets, ...PLAN.dependents]) expect(status.detail).toContain(name);
    expect(rotation.called()).toEqual(['loadCredential', 'detectRotation']);
  });

  it('rotates a credential that is not due when forced', async () => {
    const rotation = await rotate({ detectRotation: freshToken() }, { force: true });
    const { status } = await rotation.ended();

    expect(rotation.inputsTo('detectRotation')).toMatchObject([{ request: { force: true } }]);
    expect(status.outcome).toBe('rotated');
    expect(rotation.called()).toEqual(CREATE_THEN_REVOKE);
  });

  /*
   * Each fake fails for good at once (nonRetryable): what the workflow sees once a step's retries are spent.
   * Rollback undoes what was done so far, newest first, and dependents are resumed last.
   */
  it.each<{
    step: string;
    script: Partial<Fakes>;
    failedAt: ActivityName;
    /** The failure record, for steps that classify and recover; loading the inventory does neither. */
    failure?: { step: string; class: string };
    undo: ActivityName[];
  }>([
    {
      step: 'load',
      script: {
        loadCredential: failing(() =>
          ApplicationFailure.create({
            type: 'InventoryError',
            message: 'load: no such id',
            nonRetryable: true,
          }),
        ),
      },
      failedAt: 'loadCredential',
      undo: [],
    },
    {
      step: 'detect',
      script: { detectRotation: failing(() => providerError('auth', { status: 401 })) },
      failedAt: 'detectRotation',
      failure: { step: 'detect', class: 'auth' },
      undo: [],
    },
    {
      step: 'pause dependents',
      script: {
        loadCredential: async () => planWith({ dependents: [...PLAN.dependents, RUNNERS] }),
        pauseDependent: failingWhile(
          ({ dependent }) => isDeepStrictEqual(dependent, RUNNERS.ref),
          () => providerError('permanent', { status: 403 }),
          HAPPY.pauseDependent,
        ),
      },
      failedAt: 'pauseDependent',
      failure: { step: `pause ${RUNNERS.name}`, class: 'permanent' },
      undo: ['resumeDependent'],
    },
    {
      step: 'issue',
      script: { issueCredential: failing(() => providerError('permanent', { status: 400 })) },
      failedAt: 'issueCredential',
      failure: { step: 'issue', class: 'permanent' },
      undo: ['resumeDependent'],
    },
    {
      step: 'verify',
      script: { verifyCredential: failing(() => providerError('auth', { status: 403 })) },
      failedAt: 'verifyCredential',
      failure: { step: 'verify', class: 'auth' },
      undo: ['revokeCredential', 'resumeDependent'],
    },
    {
      step: 'distribute',
      script: {
        writeTarget: failingWhile(
          toGroupVariable,
          () => providerError('transient', { status: 502 }),
          HAPPY.writeTarget,
        ),
      },
      failedAt: 'writeTarget',
      failure: { step: `write ${PLAN.targets[1]?.name}`, class: 'transient' },
      undo: ['restoreTarget', 'restoreTarget', 'revokeCredential', 'resumeDependent'],
    },
    {
      step: 'promote',
      script: {
        promoteStaged: failing(() =>
          ApplicationFailure.create({
            type: 'PromoteConflict',
            message: 'promote: changed',
            nonRetryable: true,
          }),
        ),
      },
      failedAt: 'promoteStaged',
      failure: { step: 'promote', class: 'conflict' },
      undo: ['rePromotePrevious', 'restoreTarget', 'restoreTarget', 'revokeCredential', 'resumeDependent'],
    },
  ])(
    'rolls back what was done before $step failed, newest first',
    async ({ step, script, failedAt, failure, undo }) => {
      const rotation = await rotate(script);
      const ended = await rotation.ended();

      expect(ended.failedWith).toBe('RotationRolledBack');
      expect(ended.status).toMatchObject({
        phase: 'done',
        outcome: 'rolled-back',
        detail: expect.stringMatching(new RegExp(`^${step} failed; rolled back`)),
        failures: failure === undefined ? [] : [expect.objectContaining({ ...failure, recovered: false })],
        alerts: [],
      });
      expect(stepsOf(ended.status).at(-1)).toBe(step);
      expect(callsAfter(rotation, failedAt)).toEqual([...undo, ...ROLLBACK_END]);
      expect(rotation.inputsTo('revokeCredential')).toEqual(
        undo.includes('revokeCredential') ? [expect.objectContaining({ tokenId: NEW_TOKEN_ID })] : [],
      );
      expect(rotation.inputsTo('recordRotationOutcome')).toMatchObject([
        { event: 'rolled back', outcome: 'rolled-back' },
      ]);
      expect(rotation.inputsTo('sendAlert')).toMatchObject([
        { kind: 'rollback', credentialId: rotation.request.credentialId },
      ]);
    },
  );

  it('records an alert that cannot be sent among the failures, and ends as it would have', async () => {
    const rotation = await rotate({
      verifyCredential: failing(() => providerError('auth', { status: 403 })),
      sendAlert: failing(() => ApplicationFailure.create({ message: 'webhook: 500', nonRetryable: true })),
    });
    const { status, failedWith } = await rotation.ended();

    expect(failedWith).toBe('RotationRolledBack');
    expect(status).toMatchObject({
      outcome: 'rolled-back',
      failures: [
        expect.objectContaining({ step: 'verify' }),
        expect.objectContaining({ step: 'alert rollback', recovered: false }),
      ],
    });
  });

  it('hands each undo what its step changed: Vault back to the version detect read, each target its own snapshot', async () => {
    const rotation = await rotate({
      promoteStaged: failing(() => providerError('permanent', { status: 403 })),
    });
    const { status } = await rotation.ended();

    expect(rotation.inputsTo('rePromotePrevious')).toEqual([
      { store: PLAN.store.ref, previous: CURRENT, promotedTokenId: NEW_TOKEN_ID },
    ]);
    // Both restores are sent at once, so they may start in either order.
    expect(rotation.inputsTo('restoreTarget')).toEqual(
      expect.arrayContaining(
        PLAN.targets.map(({ ref }, index) =>
          expect.objectContaining({ target: ref, snapshot: SNAPSHOTS[index], previous: CURRENT }),
        ),
      ),
    );
    expect(rotation.inputsTo('resumeDependent')).toMatchObject([
      { dependent: PLAN.dependents[0]?.ref, record: PAUSED },
    ]);
    expect(status.targets).toEqual(PLAN.targets.map(({ name }) => ({ name, state: 'restored' })));
    expect(status.versions).toEqual({ current: CURRENT.version, staged: STAGED.version });
  });

  it('waits out a rate limit at issue and tries once more', async () => {
    const rotation = await rotate({
      issueCredential: failingFirst(
        1,
        () => providerError('rate-limited', { retryAfterMs: 50 }),
        HAPPY.issueCredential,
      ),
    });
    const { status } = await rotation.ended();

    expect(status.outcome).toBe('rotated');
    expect(status.failures).toEqual([
      expect.objectContaining({ step: 'issue', class: 'rate-limited', recovered: true }),
    ]);
    expect(status.timeline.filter(({ recovery }) => recovery === true)).toEqual([
      expect.objectContaining({ result: 'ok' }),
    ]);
    expect(rotation.called().filter((name) => name === 'issueCredential')).toHaveLength(2);
    expect(rotation.called()).not.toContain('findOrphanCredentials');
    // The audit log learns what the step recovered from, with the step's own event.
    expect(rotation.inputsTo('issueCredential')[1]?.audit?.recovered).toEqual(
      expect.stringContaining('rate-limited'),
    );
  });

  it('rolls back when the provider is still rate-limiting after the wait', async () => {
    const rotation = await rotate({
      issueCredential: failing(() => providerError('rate-limited', { retryAfterMs: 50 })),
    });
    const { status } = await rotation.ended();

    expect(status).toMatchObject({ outcome: 'rolled-back', detail: expect.stringMatching(/^issue failed/) });
    expect(rotation.called().filter((name) => name === 'issueCredential')).toHaveLength(2);
    expect(callsAfter(rotation, 'issueCredential')).toEqual(['resumeDependent', ...ROLLBACK_END]);
  });

  it('waits for an unavailable Vault at promote, then promotes', async () => {
    const rotation = await rotate({ promoteStaged: failingFirst(1, vaultUnavailable, HAPPY.promoteStaged) });
    const { status } = await rotation.ended();
    await recordFixture('store-wait', rotation);

    expect(status.outcome).toBe('rotated');
    expect(rotation.inputsTo('awaitStore')).toEqual([{ at: PLAN.store.ref, withinSeconds: 1 }]);
    expect(rotation.called().filter((name) => name === 'promoteStaged')).toHaveLength(2);
    expect(status.failures).toEqual([
      expect.objectContaining({ step: 'promote', class: 'store-unavailable', recovered: true }),
    ]);
  });

  it('rolls back when Vault does not come back within vaultWaitSeconds', async () => {
    const rotation = await rotate({
      promoteStaged: failing(vaultUnavailable),
      awaitStore: failing(vaultUnavailable),
    });
    const { status } = await rotation.ended();

    expect(status).toMatchObject({
      outcome: 'rolled-back',
      detail: expect.stringMatching(/^promote failed/),
      failures: [expect.objectContaining({ step: 'promote', class: 'store-unavailable', recovered: false })],
    });
    expect(callsAfter(rotation, 'awaitStore')).toEqual([
      'rePromotePrevious',
      'restoreTarget',
      'restoreTarget',
      'revokeCredential',
      'resumeDependent',
      ...ROLLBACK_END,
    ]);
  });

  describe('after a mint whose answer was lost', () => {
    const ORPHAN = { ...OLD_TOKEN, tokenId: '13' };
    const lostFirst = {
      issueCredential: failingWhile(
        ({ recovery }) => recovery === undefined,
        lostAnswer,
        HAPPY.issueCredential,
      ),
      findOrphanCredentials: async () => [ORPHAN],
    } satisfies Partial<Fakes>;

    /** The lost mint, the search for what it left behind, revoking that, and a mint afresh. */
    const expectRecovery = (rotation: Rotation) => {
      expect(rotation.called().slice(3, 7)).toEqual([
        'issueCredential',
        'findOrphanCredentials',
        'revokeCredential',
        'issueCredential',
      ]);
      expect(rotation.inputsTo('findOrphanCredentials')[0]).toMatchObject({
        known: [OLD_TOKEN_ID],
        stage: { at: PLAN.store.ref, after: 0 },
      });
      expect(rotation.inputsTo('revokeCredential')[0]).toMatchObject({ tokenId: ORPHAN.tokenId });
      expect(rotation.inputsTo('issueCredential')[1]).toMatchObject({
        recovery: { orphansRevoked: [ORPHAN.tokenId] },
      });
    };

    it('revokes what the lost mint left behind and issues afresh', async () => {
      const rotation = await rotate(lostFirst);
      const { status } = await rotation.ended();

      expectRecovery(rotation);
      expect(status).toMatchObject({ outcome: 'rotated', newTokenId: NEW_TOKEN_ID });
      expect(status.failures).toEqual([
        expect.objectContaining({ step: 'issue', class: 'lost-response', recovered: true }),
      ]);
      expect(stepsOf(status)).toEqual(
        expect.arrayContaining([
          'issue',
          'find orphans',
          `revoke orphan token ${ORPHAN.tokenId}`,
          'issue afresh',
        ]),
      );
      expect(rotation.inputsTo('revokeCredential').map(({ tokenId }) => tokenId)).toEqual([
        ORPHAN.tokenId,
        OLD_TOKEN_ID,
      ]);
    });

    it('treats an issue that timed out (no heartbeat) as a lost answer', async () => {
      // The first mint never answers: its heartbeat timeout (10 s) is what the workflow sees.
      const hung = held(HAPPY.issueCredential);
      const rotation = await rotate({
        ...lostFirst,
        issueCredential: async (input) =>
          input.recovery === undefined ? hung.run(input) : HAPPY.issueCredential(input),
      });
      const { status } = await rotation.ended();
      hung.release();

      expectRecovery(rotation);
      expect(status.outcome).toBe('rotated');
      expect(status.failures).toEqual([
        expect.objectContaining({ step: 'issue', class: 'lost-response', recovered: true }),
      ]);
    });

    it('rolls back, looking again for orphans, when issuing afresh fails too', async () => {
      const rotation = await rotate({
        ...lostFirst,
        issueCredential: failing(lostAnswer),
      });
      const { status, failedWith } = await rotation.ended();

      expect(failedWith).toBe('RotationRolledBack');
      expect(status).toMatchObject({
        outcome: 'rolled-back',
        detail: expect.stringMatching(/^issue afresh failed/),
      });
      // The old token is still live (the inspect fake says so), so an ordinary rollback follows.
      expect(callsAfter(rotation, 'issueCredential')).toEqual([
        'inspectCredential',
        'findOrphanCredentials',
        'revokeCredential',
        'resumeDependent',
        ...ROLLBACK_END,
      ]);
      // Rollback has nobody to take up a staged token: it counts as an orphan there.
      expect(rotation.inputsTo('findOrphanCredentials')[1]).not.toHaveProperty('stage');
      expect(rotation.inputsTo('revokeCredential').at(-1)).toMatchObject({ tokenId: ORPHAN.tokenId });
    });

    it('ends compromised-or-lost when a lost rotate-in-place revoked the old token and no new one can be made', async () => {
      const rotation = await rotate({
        loadCredential: async () => planWith({ strategy: 'rotate-in-place' }),
        issueCredential: failingWhile(
          ({ recovery }) => recovery === undefined,
          lostAnswer,
          failing(() => providerError('permanent', { status: 400 })),
        ),
        inspectCredential: async ({ tokenId }) => ({
          ...OLD_TOKEN,
          tokenId: String(tokenId),
          active: false,
          revoked: true,
        }),
      });
      const { status, failedWith } = await rotation.ended();

      expect(failedWith).toBe('RotationRolledBack');
      expect(status).toMatchObject({ phase: 'done', outcome: 'compromised-or-lost' });
      expect(status.alerts).toEqual([expect.stringContaining(PLAN.store.name)]);
      expect(rotation.inputsTo('inspectCredential')).toMatchObject([
        { tokenId: OLD_TOKEN_ID, held: CURRENT },
      ]);
      expect(rotation.inputsTo('sendAlert')).toMatchObject([{ kind: 'compromised-or-lost' }]);
      expect(rotation.inputsTo('revokeCredential').map(({ tokenId }) => tokenId)).not.toContain(OLD_TOKEN_ID);
      expect(rotation.called()).toContain('resumeDependent');
    });
  });

  it.each<{ step: string; script: Partial<Fakes> }>([
    { step: 'verify', script: { verifyCredential: failing(() => providerError('auth', { status: 403 })) } },
    {
      step: 'distribute',
      script: {
        writeTarget: failingFirst(
          1,
          () => providerError('transient', { status: 502 }),
          HAPPY.writeTarget,
          toGroupVariable,
        ),
      },
    },
  ])('rolls forward to the token rotated in place when $step fails', async ({ step, script }) => {
    const rotation = await rotate({
      loadCredential: async () => planWith({ strategy: 'rotate-in-place' }),
      issueCredential: rotatedInPlace,
      ...script,
    });
    const { status, failedWith } = await rotation.ended();

    expect(failedWith).toBe('RotationRolledBack');
    // An alert is left for someone to find out why: not an all-clear.
    expect(status).toMatchObject({
      outcome: 'failed',
      detail: expect.stringMatching(new RegExp(`^${step} failed`)),
      targets: PLAN.targets.map(({ name }) => ({ name, state: 'written' })),
      alerts: [expect.stringContaining(`${NEW_TOKEN_ID}`)],
    });
    const rollback = rotation.calls.slice(rotation.called().indexOf('promoteStaged'));
    expect(rollback.map(({ name }) => name)).toEqual([
      'promoteStaged',
      'writeTarget',
      'writeTarget',
      'resumeDependent',
      ...ROLLBACK_END,
    ]);
    expect(rotation.inputsTo('promoteStaged')).toMatchObject([{ staged: STAGED, replacing: CURRENT }]);
    expect(rollback.filter(({ name }) => name === 'writeTarget').map(({ input }) => input)).toEqual(
      expect.arrayContaining(
        PLAN.targets.map(({ ref }) => expect.objectContaining({ target: ref, value: STAGED })),
      ),
    );
    for (const never of ['revokeCredential', 'restoreTarget', 'rePromotePrevious'] as const)
      expect(rotation.called()).not.toContain(never);
  });

  describe('abort', () => {
    const ABORT = { requestedBy: 'bob', reason: 'wrong credential' };

    it('ends a rotation awaiting approval as cancelled, nothing changed', async () => {
      const rotation = await rotate(needsApproval(DAY_MS));
      await rotation.until(({ phase }) => phase === 'awaiting-approval');
      await rotation.handle.executeUpdate(abort, { args: [ABORT] });
      const { status, failedWith } = await rotation.ended();

      expect(failedWith).toBeUndefined();
      expect(status).toMatchObject({
        outcome: 'cancelled',
        detail: expect.stringContaining('nothing was changed'),
        abortedBy: { ...ABORT, phase: 'awaiting-approval' },
      });
      expect(rotation.called()).toEqual(['loadCredential', 'detectRotation', 'recordRotationOutcome']);
      expect(rotation.inputsTo('recordRotationOutcome')).toMatchObject([
        { event: 'skipped', outcome: 'cancelled' },
      ]);
    });

    it.each<{ phase: RotationStatus['phase']; held: ActivityName; undo: ActivityName[] }>([
      { phase: 'pausing', held: 'pauseDependent', undo: ['resumeDependent'] },
      { phase: 'issuing', held: 'issueCredential', undo: ['revokeCredential', 'resumeDependent'] },
      { phase: 'verifying', held: 'verifyCredential', undo: ['revokeCredential', 'resumeDependent'] },
      // Promote never started, so Vault is left alone.
      {
        phase: 'distributing',
        held: 'writeTarget',
        undo: ['restoreTarget', 'restoreTarget', 'revokeCredential', 'resumeDependent'],
      },
      {
        phase: 'promoting',
        held: 'promoteStaged',
        undo: ['rePromotePrevious', 'restoreTarget', 'restoreTarget', 'revokeCredential', 'resumeDependent'],
      },
    ])('stops while $phase and rolls back what was done', async ({ phase, held: name, undo }) => {
      const hold = holding(name);
      const rotation = await rotate(hold.script);
      await hold.reached;
      await rotation.handle.executeUpdate(abort, { args: [ABORT] });
      hold.release();
      const { status, failedWith } = await rotation.ended();

      expect(failedWith).toBe('RotationRolledBack');
      expect(status).toMatchObject({
        outcome: 'rolled-back',
        detail: expect.stringMatching(/^aborted by bob/),
        abortedBy: { ...ABORT, phase },
      });
      // The step under way finishes; no later step starts.
      expect(callsAfter(rotation, name)).toEqual([...undo, ...ROLLBACK_END]);
      expect(rotation.inputsTo('revokeCredential').map(({ tokenId }) => tokenId)).not.toContain(OLD_TOKEN_ID);
    });

    /** Once promoted, the rotation is steered while the dependents resume or during the overlap window. */
    const afterPromote = {
      resuming: () => {
        const hold = holding('resumeDependent');
        return { script: hold.script, reached: () => hold.reached, release: hold.release };
      },
      overlapping: () => ({
        script: longOverlap,
        reached: (rotation: Rotation) => rotation.until(({ phase }) => phase === 'overlapping'),
        release: () => undefined,
      }),
    };

    it.each(['resuming', 'overlapping'] as const)(
      'rolls back while %s, pausing the dependents again while the targets switch back',
      async (phase) => {
        const steer = afterPromote[phase]();
        const rotation = await rotate(steer.script);
        await steer.reached(rotation);
        await rotation.handle.executeUpdate(abort, { args: [ABORT] });
        steer.release();
        const { status, failedWith } = await rotation.ended();

        expect(failedWith).toBe('RotationRolledBack');
        expect(status).toMatchObject({
          outcome: 'rolled-back',
          abortedBy: { ...ABORT, phase },
          targets: PLAN.targets.map(({ name }) => ({ name, state: 'restored' })),
          // The version rollback wrote the old value back as.
          versions: { current: CURRENT.version },
        });
        expect(rotation.called().filter((name) => name === 'pauseDependent')).toHaveLength(2);
        expect(callsAfter(rotation, 'pauseDependent')).toEqual([
          'rePromotePrevious',
          'restoreTarget',
          'restoreTarget',
          'revokeCredential',
          'resumeDependent',
          ...ROLLBACK_END,
        ]);
        expect(rotation.inputsTo('revokeCredential')).toMatchObject([{ tokenId: NEW_TOKEN_ID }]);
      },
    );

    it('is refused while the old token is being revoked: too late to roll back', async () => {
      const hold = holding('revokeCredential');
      const rotation = await rotate(hold.script);
      await hold.reached;
      const refused = await rotation.handle.executeUpdate(abort, { args: [ABORT] }).catch((e: unknown) => e);
      hold.release();
      const { status } = await rotation.ended();

      expect(refused).toMatchObject({ cause: { message: expect.stringContaining('revoking') } });
      expect(status).toMatchObject({ outcome: 'rotated' });
      expect(status.abortedBy).toBeUndefined();
    });
  });

  describe('approval', () => {
    it('goes on once approved, and the next audited step records who approved with which key', async () => {
      const rotation = await rotate(needsApproval(DAY_MS));
      await rotation.until(({ phase }) => phase === 'awaiting-approval');
      expect(rotation.called()).toEqual(['loadCredential', 'detectRotation']);
      const approval = approvalBy('bob');
      await rotation.handle.executeUpdate(approve, { args: [approval] });
      const { status } = await rotation.ended();

      expect(status).toMatchObject({ outcome: 'rotated', approvedBy: 'bob', approvalKey: APPROVAL_KEY });
      expect(stepsOf(status)).toEqual([
        'load',
        'detect',
        'approve',
        `approved by bob (key ${APPROVAL_KEY})`,
        ...ROTATION_STEPS.slice(2),
      ]);
      expect(rotation.called()).toEqual([
        'loadCredential',
        'detectRotation',
        'verifyApproval',
        ...CREATE_THEN_REVOKE.slice(2),
      ]);
      // What the signature must cover comes from the workflow itself, never from the payload.
      expect(rotation.inputsTo('verifyApproval')).toEqual([
        {
          approval,
          rotation: {
            workflowId: rotation.handle.workflowId,
            runId: expect.any(String),
            credentialId: status.credentialId,
            requestedBy: 'alice',
          },
        },
      ]);
      expect(rotation.inputsTo('pauseDependent')[0]?.audit).toMatchObject({
        approvedBy: 'bob',
        approvalKey: APPROVAL_KEY,
      });
    });

    it('refuses an approval whose signature does not check out, and keeps waiting', async () => {
      const rotation = await rotate({
        ...needsApproval(DAY_MS),
        verifyApproval: failing(() =>
          ApplicationFailure.create({
            type: 'ApprovalRefused',
            nonRetryable: true,
            message: 'bad signature',
          }),
        ),
      });
      await rotation.until(({ phase }) => phase === 'awaiting-approval');
      const refused = await rotation.handle
        .executeUpdate(approve, { args: [approvalBy('mallory')] })
        .catch((e: unknown) => e);

      expect(refused).toMatchObject({ cause: { type: 'ApprovalRefused', message: 'bad signature' } });
      const status = await rotation.status();
      expect(status).toMatchObject({ phase: 'awaiting-approval' });
      expect(status.approvedBy).toBeUndefined();
      expect(stepsOf(status)).toContain('approval by mallory refused');
      await rotation.handle.executeUpdate(abort, { args: [{ requestedBy: 'bob', reason: 'test over' }] });
      expect((await rotation.ended()).status.outcome).toBe('cancelled');
    });

    it('cancels, changing nothing, when nobody approves within approvalTimeout', async () => {
      const rotation = await rotate(needsApproval(200));
      const { status, failedWith } = await rotation.ended();

      expect(failedWith).toBeUndefined();
      expect(status).toMatchObject({
        outcome: 'cancelled',
        detail: expect.stringContaining('nothing was changed'),
      });
      expect(status.approvedBy).toBeUndefined();
      expect(rotation.called()).toEqual(['loadCredential', 'detectRotation', 'recordRotationOutcome']);
      expect(rotation.inputsTo('recordRotationOutcome')).toMatchObject([
        { event: 'skipped', outcome: 'cancelled' },
      ]);
    });
  });

  describe('overlap window', () => {
    it('ends early on endOverlapNow, then revokes the old token', async () => {
      const rotation = await rotate(longOverlap);
      await rotation.until(({ phase }) => phase === 'overlapping');
      expect(rotation.called()).not.toContain('revokeCredential');
      await rotation.handle.executeUpdate(endOverlapNow, { args: [{ requestedBy: 'bob' }] });
      const { status } = await rotation.ended();

      expect(status.outcome).toBe('rotated');
      expect(rotation.called()).toEqual(CREATE_THEN_REVOKE);
      expect(rotation.inputsTo('revokeCredential')).toMatchObject([{ tokenId: OLD_TOKEN_ID }]);
    });

    it('moves its end by the minutes extendOverlap asks for', async () => {
      const rotation = await rotate(longOverlap);
      const before = await rotation.until(({ phase }) => phase === 'overlapping');
      const endsAt = await rotation.handle.executeUpdate(extendOverlap, {
        args: [{ minutes: 90, requestedBy: 'bob' }],
      });

      expect(Date.parse(endsAt) - Date.parse(before.overlapEndsAt ?? '')).toBe(90 * 60_000);
      expect((await rotation.status()).overlapEndsAt).toBe(endsAt);
      await rotation.handle.executeUpdate(endOverlapNow, { args: [{ requestedBy: 'bob' }] });
      expect((await rotation.ended()).status.outcome).toBe('rotated');
    });

    it('extends once and alerts when the old token is used after the switch, then revokes it', async () => {
      const rotation = await rotate({
        inspectCredential: async ({ tokenId }) => ({
          ...OLD_TOKEN,
          tokenId: String(tokenId),
          lastUsedAt: new Date().toISOString(),
        }),
      });
      // The extension lasts at least a minute: an operator ends it here, as one may once alerted.
      const alerted = await rotation.until(({ alerts }) => alerts.length > 0);
      expect(alerted.phase).toBe('overlapping');
      await rotation.handle.executeUpdate(endOverlapNow, { args: [{ requestedBy: 'bob' }] });
      const { status } = await rotation.ended();

      expect(status).toMatchObject({
        outcome: 'rotated',
        alerts: [expect.stringContaining(`${OLD_TOKEN_ID}`)],
      });
      expect(rotation.inputsTo('inspectCredential')).toHaveLength(1);
      expect(rotation.inputsTo('sendAlert')).toMatchObject([{ kind: 'old-token-still-used' }]);
      expect(rotation.inputsTo('revokeCredential')).toMatchObject([
        { tokenId: OLD_TOKEN_ID, audit: { alert: status.alerts[0] } },
      ]);
    });
  });

  it('aborted in the overlap, leaves the old token alone whoever still uses it: no extension, no alert', async () => {
    const rotation = await rotate({
      ...longOverlap,
      inspectCredential: async ({ tokenId }) => ({
        ...OLD_TOKEN,
        tokenId: String(tokenId),
        lastUsedAt: new Date().toISOString(),
      }),
    });
    await rotation.until(({ phase }) => phase === 'overlapping');
    await rotation.handle.executeUpdate(abort, { args: [{ requestedBy: 'bob', reason: 'runner leaked' }] });
    const { status } = await rotation.ended();

    expect(status).toMatchObject({ outcome: 'rolled-back', alerts: [] });
    expect(rotation.inputsTo('inspectCredential')).toEqual([]);
    expect(rotation.inputsTo('sendAlert')).toMatchObject([{ kind: 'rollback' }]);
  });

  describe('a rollback step that keeps failing', () => {
    /** Verify fails, and rollback cannot revoke the new token until `fix` is called. */
    async function stuckRollback() {
      let refusing = true;
      const rotation = await rotate({
        verifyCredential: failing(() => providerError('auth', { status: 403 })),
        revokeCredential: failingWhile(
          () => refusing,
          () => providerError('transient', { status: 503 }),
          HAPPY.revokeCredential,
        ),
      });
      const waiting = await rotation.until(({ phase }) => phase === 'needs-operator');
      expect(waiting.outcome).toBeUndefined();
      expect(rotation.inputsTo('sendAlert')).toMatchObject([{ kind: 'needs-operator' }]);
      return { rotation, fix: () => (refusing = false) };
    }

    it('waits for an operator; retryRollback runs what failed once more', async () => {
      const { rotation, fix } = await stuckRollback();
      fix();
      await rotation.handle.executeUpdate(retryRollback, { args: [{ requestedBy: 'carol' }] });
      const { status, failedWith } = await rotation.ended();

      expect(failedWith).toBe('RotationRolledBack');
      expect(status).toMatchObject({ phase: 'done', outcome: 'rolled-back' });
      // Only the undo that failed runs again.
      expect(callsAfter(rotation, 'verifyCredential')).toEqual([
        'revokeCredential',
        'resumeDependent',
        'sendAlert',
        'revokeCredential',
        ...ROLLBACK_END,
      ]);
      expect(rotation.inputsTo('revokeCredential')).toMatchObject([
        { tokenId: NEW_TOKEN_ID },
        { tokenId: NEW_TOKEN_ID },
      ]);
    });

    it('ends failed with the operator note on resolve', async () => {
      const { rotation } = await stuckRollback();
      const note = `revoked token ${NEW_TOKEN_ID} by hand`;
      await rotation.handle.executeUpdate(resolve, { args: [{ resolvedBy: 'carol', note }] });
      const { status, failedWith } = await rotation.ended();

      expect(failedWith).toBe('RotationRolledBack');
      expect(status).toMatchObject({
        phase: 'done',
        outcome: 'failed',
        detail: expect.stringContaining(note),
      });
      expect(rotation.called().filter((name) => name === 'revokeCredential')).toHaveLength(1);
      expect(rotation.inputsTo('recordRotationOutcome')).toMatchObject([
        { event: 'failed', outcome: 'failed' },
      ]);
    });
  });

  it('reports a failure after promote without rolling back: the new token stays live, the old one is left to revoke', async () => {
    const rotation = await rotate({
      revokeCredential: failing(() => providerError('permanent', { status: 403 })),
    });
    const { status, failedWith } = await rotation.ended();

    expect(failedWith).toBe('RotationIncomplete');
    expect(status).toMatchObject({
      phase: 'done',
      outcome: 'failed',
      detail: expect.stringMatching(/^revoke old failed after promote/),
      versions: { current: CURRENT.version + 1 },
      targets: PLAN.targets.map(({ name }) => ({ name, state: 'written' })),
      alerts: [expect.stringContaining(`${OLD_TOKEN_ID}`)],
    });
    expect(callsAfter(rotation, 'revokeCredential')).toEqual(['recordRotationOutcome', 'sendAlert']);
    expect(rotation.inputsTo('sendAlert')).toMatchObject([{ kind: 'needs-operator' }]);
    for (const never of ['restoreTarget', 'rePromotePrevious'] as const)
      expect(rotation.called()).not.toContain(never);
  });

  it.each([
    { type: 'ProviderError:compromised', error: () => providerError('compromised'), outcome: 'compromised' },
    {
      type: 'ProviderError:credential-lost',
      error: () => providerError('credential-lost'),
      outcome: 'compromised-or-lost',
    },
    {
      type: 'CredentialLost',
      error: () =>
        ApplicationFailure.create({
          type: 'CredentialLost',
          message: 'issue: no live token',
          nonRetryable: true,
        }),
      outcome: 'compromised-or-lost',
    },
  ])('ends $outcome, with an alert, when issue fails with $type', async ({ error, outcome }) => {
    const rotation = await rotate({ issueCredential: failing(error) });
    const { status, failedWith } = await rotation.ended();

    expect(failedWith).toBe('RotationRolledBack');
    expect(status).toMatchObject({ phase: 'done', outcome, alerts: [expect.any(String)] });
    expect(callsAfter(rotation, 'issueCredential')).toEqual(['resumeDependent', ...ROLLBACK_END]);
    expect(rotation.inputsTo('sendAlert')).toMatchObject([{ kind: outcome }]);
  });
});
