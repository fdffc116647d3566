import {
  ApplicationFailure,
  defineQuery,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import type { RotationPlan, RotationRequest } from '../activities/rotation';
import type { AlertKind } from '../src/alerts';
import {
  CREDENTIAL_ID,
  CREDENTIAL_KIND,
  ENVIRONMENT,
  ROTATION_OUTCOME,
  ROTATION_PHASE,
} from '../src/search-attributes';
import { sendAlert } from './alerts';
import { auditTrail } from './audit-trail';
import { humanDuration, issueSummary, rotationCurrentDetails, wouldDo, type DetailsContext } from './details';
import { abortGate, approvalGate, operatorGate, overlapWindow, recordDecision } from './operator';
import { classifyFailure, describeFailure, messageOf, whatToDo, type ClassifiedFailure } from './failures';
import { recovering, type FailureRecord } from './recovery';
import { compensate, compensating, HEARTBEAT_TIMEOUT, rollbackReport, type Compensation } from './rollback';

export { abort, approve, endOverlapNow, extendOverlap, resolve, retryRollback } from './operator';

export type RotationPhase =
  | 'loading'
  | 'detecting'
  | 'awaiting-approval'
  | 'pausing'
  | 'issuing'
  | 'recovering'
  | 'verifying'
  | 'distributing'
  | 'promoting'
  | 'resuming'
  | 'overlapping'
  | 'revoking'
  | 'rolling-back'
  | 'needs-operator'
  | 'done';
export type RotationOutcome =
  | 'rotated'
  | 'not-due'
  | 'dry-run'
  | 'cancelled'
  | 'rolled-back'
  | 'failed'
  /** The credential is gone and a person must re-authorise (an OAuth2 chain revoked after a lost answer). */
  | 'compromised-or-lost'
  /** Someone else used the credential: treat it as stolen. */
  | 'compromised';
export type TargetState = 'unchanged' | 'written' | 'failed' | 'restored' | 'restore-failed';

/** What the `status` query answers: references, ids and times, never a value. */
export interface RotationStatus {
  credentialId: string;
  phase: RotationPhase;
  outcome?: RotationOutcome;
  /** Why the rotation did what it did, in a sentence. */
  detail?: string;
  /** The steps in order; `recovery` marks a recovery the runbook ran between tries of a step. */
  timeline: {
    step: string;
    startedAt: string;
    endedAt?: string;
    result?: 'ok' | 'failed';
    recovery?: true;
  }[];
  vault: { current?: number; previous?: number; staged?: number };
  targets: { name: string; state: TargetState }[];
  oldTokenId?: number;
  newTokenId?: number;
  /** Who approved the rotation, when the inventory requires approval. */
  approvedBy?: string;
  /** Who aborted the rotation, and why. */
  abortedBy?: { requestedBy: string; reason: string; phase: RotationPhase };
  overlapEndsAt?: string;
  /** When every target had the new token (the end of distribute), by workflow time. */
  switchedAt?: string;
  /** Each step failure once its retries were spent: its class and what recovery did about it. */
  failures: FailureRecord[];
  /**
   * What someone must look at, also in the audit detail of the next audited step; the alerts sent
   * (`sendAlert`) cover these and every end that needs a person. Ids and times, never a value.
   */
  alerts: string[];
}

export const statusQuery = defineQuery<RotationStatus>('status');

const retried: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['ValidationError', 'InventoryError', 'PromoteConflict'],
  },
};
/** A repeated mint can make GitLab revoke a whole token family, so issue runs once. */
const once: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 1 },
};
const acts = proxyActivities<Activities>(retried);
/** Reading the inventory is bookkeeping that changes nothing: a local activity, one history event. */
const inventoryRead = { startToCloseTimeout: '30 seconds', retry: retried.retry } as const;
const local = proxyLocalActivities<Activities>(inventoryRead);
const summarised = (summary: string, options = retried): ActivityOptions => ({ ...options, summary });
/** The least an overlap is extended by when the old token is still used after the switch. */
const MIN_USED_EXTENSION_MS = 60_000;
/** The phases that move a rotation forward: none starts once it is aborted. */
const FORWARD_PHASES: ReadonlySet<RotationPhase> = new Set([
  'pausing',
  'issuing',
  'recovering',
  'verifying',
  'distributing',
  'promoting',
]);
/**
 * The phases a rotation waits in, which the workflow list shows (search attribute RotationPhase). The steps
 * between them take a fraction of a second each: the status query and the Web UI show those, since
 * recording each in visibility cost a history event and a billed action apiece.
 */
const LISTED_PHASES: ReadonlySet<RotationPhase> = new Set([
  'awaiting-approval',
  'recovering',
  'overlapping',
  'rolling-back',
  'needs-operator',
]);
/** Thrown instead of starting the next step of an aborted rotation; rollback follows. */
class RotationAborted extends Error {}
/** How long a step waits for an unavailable Vault before the rotation rolls back. */
const DEFAULT_VAULT_WAIT_SECONDS = 300;

/**
 * Rotates one credential (see DESIGN.md, "The rotation, as a state machine"). Start it with workflow id
 * `rotate/<credentialId>`, so that Temporal refuses a second rotation of the same credential.
 */
export async function rotateCredential(request: RotationRequest): Promise<RotationStatus> {
  const id = request.credentialId;
  const status: RotationStatus = {
    credentialId: id,
    phase: 'loading',
    timeline: [],
    vault: {},
    targets: [],
    failures: [],
    alerts: [],
  };
  setHandler(statusQuery, () => status);
  const approval = approvalGate(status);
  const overlap = overlapWindow(status, () => show());
  const operator = operatorGate(status);
  abortGate(status);
  const undoing = compensating(request.rollbackAttempts);
  const audit = auditTrail(request, status);
  // Histories from before the patch listed every phase, labelled at once, loaded remotely and snapshotted
  // each target in an activity of its own: they replay so.
  const listsEveryPhase = !patched('lean-history-v1');
  /** Labels not listed yet: they go with the next phase the rotation waits in or ends in. */
  const labels: SearchAttributeUpdatePair[] = [];
  const label = (...pairs: SearchAttributeUpdatePair[]) =>
    listsEveryPhase ? upsertSearchAttributes(pairs) : labels.push(...pairs);
  const list = (...pairs: SearchAttributeUpdatePair[]) =>
    upsertSearchAttributes([...labels.splice(0), ...pairs]);
  // Rotations started through src/rotations.ts carry it from their start already.
  if (listsEveryPhase || workflowInfo().typedSearchAttributes.get(CREDENTIAL_ID) === undefined)
    label({ key: CREDENTIAL_ID, value: id });

  /** What the Web UI's current details show beyond the status: the plan once loaded, what is awaited. */
  const shown: DetailsContext = {};
  /** The Web UI's current details: not a command, so they change nothing in the history. */
  const show = () => setCurrentDetails(rotationCurrentDetails(status, request, shown));
  const enter = (phase: RotationPhase) => {
    status.phase = phase;
    if (listsEveryPhase || LISTED_PHASES.has(phase)) list({ key: ROTATION_PHASE, value: phase });
    show();
  };
  const step = async <T>(
    name: string,
    phase: RotationPhase,
    run: () => Promise<T>,
    mark: { recovery?: true } = {},
  ): Promise<T> => {
    if (status.abortedBy !== undefined && FORWARD_PHASES.has(phase)) throw new RotationAborted();
    const entry: RotationStatus['timeline'][number] = {
      step: name,
      startedAt: new Date().toISOString(),
      ...mark,
    };
    // In the timeline first, so that the current details name the step.
    status.timeline.push(entry);
    enter(phase);
    try {
      const result = await run();
      entry.result = 'ok';
      audit.stepSucceeded();
      return result;
    } catch (error) {
      entry.result = 'failed';
      throw error;
    } finally {
      entry.endedAt = new Date().toISOString();
    }
  };
  /** Sends an alert; one that cannot be sent is recorded among the failures and changes nothing else. */
  const raiseAlert = async (kind: AlertKind, message: string): Promise<void> => {
    // Histories recorded before alerts existed replay without them.
    if (!patched('alerts-v1')) return;
    await sendAlert({ kind, credentialId: id, message }).catch((error: unknown) => {
      const failure = classifyFailure(error);
      status.failures.push({
        step: `alert ${kind}`,
        class: failure.class,
        message: failure.message,
        at: new Date().toISOString(),
        recovery: 'none: the rotation went on without it',
        recovered: false,
      });
    });
  };
  const finish = (outcome: RotationOutcome, detail: string) => {
    Object.assign(status, { phase: 'done', outcome, detail });
    list({ key: ROTATION_PHASE, value: 'done' }, { key: ROTATION_OUTCOME, value: outcome });
    show();
    return status;
  };

  /** The rotation step that failed: a recovery that failed too is not it. */
  const failedStep = (otherwise: string) =>
    status.timeline.filter((entry) => entry.recovery !== true).at(-1)?.step ?? otherwise;
  const recoveryStep = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const resumeIn = status.phase;
    const result = await step(name, 'recovering', run, { recovery: true });
    enter(resumeIn);
    return result;
  };

  // Each step that changes something pushes its undo right beside it; rollback runs them in reverse.
  const undo: Compensation[] = [];
  /** Resuming the paused dependents: always the last undo, whenever they were paused. */
  const resumes: Compensation[] = [];
  /** What rollback cannot undo, for the operator. */
  let leftOver = '';
  /** An outcome the failure itself decides, such as `compromised` for a stolen refresh token. */
  let markedOutcome: ClassifiedFailure['outcome'];

  /** Runs every undo; while some fail, an operator retries them or takes over (answers their words then). */
  const rollBack = async (): Promise<string | undefined> => {
    enter('rolling-back');
    let failed = await compensate([...resumes, ...undo]);
    while (failed.length > 0) {
      await raiseAlert(
        'needs-operator',
        `rollback is stuck: ${failed.map(({ what, result }) => `${what}: ${result ?? 'not run'}`).join('; ')}; ` +
          `run \`rotator retry-rollback ${id}\`, or undo it by hand and run \`rotator resolve ${id}\``,
      );
      shown.stuck = failed.map(({ what }) => what).join('; ');
      const decision = await step('await operator', 'needs-operator', operator);
      if ('resolvedBy' in decision) return `; resolved by ${decision.resolvedBy}: ${decision.note}`;
      enter('rolling-back');
      failed = await compensate(failed);
    }
    return undefined;
  };

  /** Rolls back, records the end and fails the workflow with a message that says what was undone. */
  const rolledBack = async (error: unknown): Promise<never> => {
    const failed = failedStep('load');
    const { abortedBy } = status;
    const what =
      abortedBy === undefined
        ? `${failed} failed (${describeFailure(error)})`
        : `aborted by ${abortedBy.requestedBy} while ${abortedBy.phase} (${abortedBy.reason})`;
    const resolution = await rollBack();
    // Rolled back is an all-clear only when nothing is left for anyone to do.
    const outcome =
      markedOutcome ?? (resolution === undefined && status.alerts.length === 0 ? 'rolled-back' : 'failed');
    // The result says what was restored and what to do: `status` and the Web UI show it.
    // An abort is the operator's own doing, and a resolved rollback is in an operator's hands already.
    const toDo =
      abortedBy === undefined && resolution === undefined ? whatToDo(error, failed, id) : undefined;
    const restored =
      `rolled back: ${rollbackReport([...resumes, ...undo])}${leftOver}${resolution ?? ''}` +
      (toDo === undefined ? '' : `; to do: ${toDo}`);
    finish(
      outcome,
      `${abortedBy === undefined ? `${failed} failed` : `aborted by ${abortedBy.requestedBy}`}; ${restored}`,
    );
    const message = `rotate ${id}: ${what}; ${restored}`;
    const unrecorded = await audit.recordOutcome(
      outcome === 'rolled-back' ? 'rolled back' : 'failed',
      outcome,
      message,
    );
    await raiseAlert(markedOutcome ?? 'rollback', message + unrecorded);
    throw ApplicationFailure.create({
      type: 'RotationRolledBack',
      nonRetryable: true,
      message: message + unrecorded,
      cause: error instanceof Error && !(error instanceof RotationAborted) ? error : undefined,
    });
  };

  /** A step before anything changed failed: nothing to undo, but the end says which and why (patch). */
  const failedUnchanged = (error: unknown): Promise<never> =>
    patched('unchanged-failure-v1') ? rolledBack(error) : Promise.reject(error);

  const plan = await step('load', 'loading', () =>
    listsEveryPhase
      ? acts.loadCredential.executeWithOptions(summarised(`load ${id} from the inventory`), [request])
      : local.loadCredential.executeWithOptions(
          { ...inventoryRead, summary: `load ${id} from the inventory` },
          [request],
        ),
  ).catch(failedUnchanged);
  shown.plan = plan;
  label({ key: CREDENTIAL_KIND, value: plan.kind }, { key: ENVIRONMENT, value: plan.environment });
  status.targets = plan.targets.map(({ name }) => ({ name, state: 'unchanged' }));
  const source = plan.source.ref;
  const vaultWait = request.vaultWaitSeconds ?? DEFAULT_VAULT_WAIT_SECONDS;
  const recover = recovering({
    failures: status.failures,
    recoveryStep,
    awaitVault: () =>
      acts.awaitVault.executeWithOptions(
        {
          ...summarised(
            `wait up to ${humanDuration(vaultWait * 1000)} for Vault ${plan.vault.mount} to answer`,
          ),
          startToCloseTimeout: `${vaultWait + 30} seconds`,
          retry: { maximumAttempts: 2 },
        },
        [{ at: plan.vault, withinSeconds: vaultWait }],
      ),
    recovered: audit.recovered,
    authNote:
      source.connection.fallbackCredential === undefined
        ? 'none: no fallbackCredential is configured for this provider'
        : 'the fallback admin token was tried and refused too',
  });

  // Whatever a lost mint left behind was created after this.
  const detectedAt = new Date().toISOString();
  const detect = () =>
    acts.detectRotation.executeWithOptions(
      summarised(`check whether ${plan.source.name} is due for rotation`),
      [{ source, vault: plan.vault, staged: plan.staged, policy: plan.policy, request }],
    );
  // Before the patch a detect that failed failed the workflow as it was; now it recovers like any step.
  const detection = await step('detect', 'detecting', () =>
    detect().catch((error: unknown) =>
      patched('unchanged-failure-v1') ? recover.from('detect', error, detect) : Promise.reject(error),
    ),
  ).catch(failedUnchanged);
  status.vault.current = detection.current.version;
  status.oldTokenId = detection.currentTokenId;
  if (!detection.due) return finish('not-due', detection.why);
  if (request.dryRun === true) return finish('dry-run', wouldDo(plan, detection.why));
  if (plan.policy.requireApproval) {
    shown.approvalUntil = new Date(Date.now() + plan.policy.approvalTimeout).toISOString();
    const approvedBy = await step('approve', 'awaiting-approval', () =>
      approval(plan.policy.approvalTimeout),
    );
    if (approvedBy === undefined) {
      const detail =
        status.abortedBy === undefined
          ? `not approved within ${plan.policy.approvalTimeout / 1000}s: nothing was changed`
          : `aborted by ${status.abortedBy.requestedBy} before approval (${status.abortedBy.reason}): nothing was changed`;
      return finish('cancelled', detail + (await audit.recordOutcome('skipped', 'cancelled', detail)));
    }
    audit.approved(approvedBy);
  }

  const paused: { dependent: RotationPlan['dependents'][number]; record: { paused: number[] } }[] = [];
  const resume = ({ dependent, record }: (typeof paused)[number], step: string, options = retried) =>
    acts.resumeDependent.executeWithOptions(summarised(`resume ${dependent.name} as they were`, options), [
      { dependent: dependent.ref, record, audit: audit.context(step, dependent.name) },
    ]);
  const pauseAll = (step: string) =>
    inParallel(plan.dependents, async (dependent) => {
      const record = await recover(`pause ${dependent.name}`, () =>
        acts.pauseDependent.executeWithOptions(summarised(`pause ${dependent.name} while ${id} rotates`), [
          { dependent: dependent.ref, audit: audit.context(step, dependent.name) },
        ]),
      );
      paused.push({ dependent, record });
      resumes.push({
        what: `resume ${dependent.name}`,
        run: () => resume({ dependent, record }, 'rollback', undoing),
      });
    });
  const resumeAll = async () => {
    await inParallel(paused, (entry) =>
      recover(`resume ${entry.dependent.name}`, () => resume(entry, 'resume dependents')),
    );
    paused.length = 0;
    resumes.length = 0;
  };

  const untilPromoted = async () => {
    await step('pause dependents', 'pausing', () => pauseAll('pause dependents'));

    const stage = { ...plan.staged, cas: detection.stagedVersion };
    // A refused mint (429) changed nothing, so it may run once more; a lost answer has its own recovery.
    const issue = (recovery?: { orphansRevoked: number[] }) =>
      recover(
        'issue',
        () =>
          acts.issueCredential.executeWithOptions(
            summarised(issueSummary(plan, detection.currentTokenId), once),
            [
              {
                source,
                current: { tokenId: detection.currentTokenId },
                held: detection.current,
                stage,
                recovery,
                audit: audit.context(recovery === undefined ? 'issue' : 'issue afresh', plan.source.name),
              },
            ],
          ),
        ['rate-limited'],
      );
    /** Once only: revoke what the lost mint left behind, then create afresh (rotating again is reuse). */
    /**
     * A token a lost attempt staged is kept for `issue afresh` to take up; rollback has nobody to take it up,
     * so there it is an orphan too (the chaos run found one left active).
     */
    const findOrphans = (options = retried, staged: 'kept' | 'orphaned' = 'kept') =>
      acts.findOrphanCredentials.executeWithOptions(
        summarised(`find tokens the lost mint of ${plan.source.name} left behind`, options),
        [
          {
            source,
            since: detectedAt,
            known: [
              detection.currentTokenId,
              ...(status.newTokenId === undefined ? [] : [status.newTokenId]),
            ],
            ...(staged === 'kept' ? { stage } : {}),
          },
        ],
      );
    const revokeOrphan = (tokenId: number, context: string, options = retried) =>
      acts.revokeCredential.executeWithOptions(
        summarised(`revoke orphan token ${tokenId} of ${plan.source.name}`, options),
        [{ source, tokenId, audit: audit.context(context, plan.source.name) }],
      );
    const recoverLostMint = async () => {
      // The chaos run found orphans left active when finding them failed: rollback now looks again, and
      // the recovery itself waits out a rate limit or an unavailable Vault. Older histories did neither.
      const orphanSafe = patched('orphans-on-rollback-v1');
      if (orphanSafe) {
        undo.push({
          what: `revoke what the lost mint of ${plan.source.name} left behind`,
          run: async () => {
            for (const { tokenId } of await findOrphans(undoing, 'orphaned'))
              await revokeOrphan(tokenId, 'rollback', undoing);
          },
        });
      }
      const guarded = <T>(name: string, run: () => Promise<T>) => (orphanSafe ? recover(name, run) : run());
      const orphans = await step('find orphans', 'recovering', () =>
        guarded('find orphans', () => findOrphans()),
      );
      for (const { tokenId } of orphans) {
        await step(`revoke orphan token ${tokenId}`, 'recovering', () =>
          guarded(`revoke orphan token ${tokenId}`, () => revokeOrphan(tokenId, 'recover')),
        );
      }
      return step('issue afresh', 'issuing', () => issue({ orphansRevoked: orphans.map((o) => o.tokenId) }));
    };
    /**
     * After a lost mint whose recovery failed too: the lost call may have rotated the old token in place.
     * Then no live token is left, which is `compromised-or-lost`, not a rollback (patch lost-in-place-v1).
     */
    const noLiveTokenLeft = async (error: unknown): Promise<never> => {
      if (!patched('lost-in-place-v1')) throw error;
      const old = await acts.inspectCredential
        .executeWithOptions(summarised(`check whether old token ${detection.currentTokenId} is still live`), [
          { source, tokenId: detection.currentTokenId, held: detection.current },
        ])
        .catch(() => undefined);
      if (old?.revoked !== true) throw error;
      const message =
        `NO live token is left: the lost call revoked old token ${detection.currentTokenId} by rotating it ` +
        `in place, and a fresh token could not be made (${messageOf(error)}). An operator must create one ` +
        `by hand and write it to Vault ${plan.vault.mount}/${plan.vault.path} (fields token, tokenId, expiresAt)`;
      throw ApplicationFailure.create({
        type: 'CredentialLost',
        nonRetryable: true,
        message,
        cause: error instanceof Error ? error : undefined,
      });
    };
    const issued = await step('issue', 'issuing', () => issue())
      .catch((error: unknown) => {
        if (classifyFailure(error).class !== 'lost-response') throw error;
        return recoverLostMint().catch(noLiveTokenLeft);
      })
      .catch((error: unknown) => {
        const failure = classifyFailure(error);
        if (failure.alert)
          status.alerts.push(`${failure.message} (Vault ${plan.vault.mount}/${plan.vault.path})`);
        markedOutcome = failure.outcome;
        throw error;
      });
    status.newTokenId = issued.tokenId;
    status.vault.staged = issued.staged.version;
    // Rotating in place has revoked the old token already: nothing brings it back, and revoking the new one
    // too would leave none. A failure from here on rolls forward to the new token instead (the chaos run
    // found Vault and the targets all pointing at the revoked token); older histories left it staged.
    const rollsForward = issued.revokedTokenId !== undefined && patched('roll-forward-in-place-v1');
    if (rollsForward) {
      undo.push({
        what: `roll forward to new token ${issued.tokenId} in Vault and every target`,
        run: async () => {
          status.alerts.push(
            `token ${detection.currentTokenId} was rotated in place, so the rotation rolled forward to new ` +
              `token ${issued.tokenId} instead of back: find out why it failed`,
          );
          await acts.promoteStaged.executeWithOptions(
            summarised(`roll forward: promote staged v${issued.staged.version} to current`, undoing),
            [
              {
                staged: issued.staged,
                current: plan.vault,
                cas: detection.current.version,
                audit: audit.context('rollback', `Vault ${plan.vault.mount}/${plan.vault.path}`),
              },
            ],
          );
          await inParallel(plan.targets, async (target, index) => {
            await acts.writeTarget.executeWithOptions(
              summarised(`roll forward: write new token ${issued.tokenId} to ${target.name}`, undoing),
              [{ target: target.ref, value: issued.staged, audit: audit.context('rollback', target.name) }],
            );
            const entry = status.targets[index];
            if (entry !== undefined) entry.state = 'written';
          });
        },
      });
    } else if (issued.revokedTokenId !== undefined) {
      leftOver =
        `; new token ${issued.tokenId} stays staged at v${issued.staged.version} because rotating in place ` +
        `revoked token ${issued.revokedTokenId}: an operator must promote or revoke it`;
    } else {
      undo.push({
        what: `revoke new token ${issued.tokenId}`,
        run: () =>
          acts.revokeCredential.executeWithOptions(
            summarised(`rollback: revoke new token ${issued.tokenId} of ${plan.source.name}`, undoing),
            [{ source, tokenId: issued.tokenId, audit: audit.context('rollback', plan.source.name) }],
          ),
      });
    }

    await step('verify', 'verifying', () =>
      recover('verify', () =>
        acts.verifyCredential.executeWithOptions(
          summarised(`verify that new token ${issued.tokenId} works against its provider`),
          [
            {
              source,
              tokenId: issued.tokenId,
              staged: issued.staged,
              expiresAt: issued.expiresAt,
              audit: audit.context('verify', plan.source.name),
            },
          ],
        ),
      ),
    );

    const snapshotEach = (target: RotationPlan['targets'][number]) =>
      recover(`snapshot ${target.name}`, () =>
        acts.snapshotTarget.executeWithOptions(
          summarised(`record the state of ${target.name}, for rollback`),
          [{ target: target.ref }],
        ),
      );
    await step('distribute', 'distributing', async () => {
      const snapshots = listsEveryPhase
        ? undefined
        : plan.targets.length === 0
          ? []
          : await recover('snapshot targets', () =>
              acts.snapshotTargets.executeWithOptions(
                summarised(
                  `record the state of ${plan.targets.map(({ name }) => name).join(', ')}, for rollback`,
                ),
                [{ targets: plan.targets.map(({ ref }) => ref) }],
              ),
            );
      await inParallel(plan.targets, async (target, index) => {
        const state = (value: TargetState) => {
          const entry = status.targets[index];
          if (entry !== undefined) entry.state = value;
        };
        const snapshot = snapshots?.[index] ?? (await snapshotEach(target));
        if (!rollsForward)
          undo.push({
            what: `restore ${target.name}`,
            run: async () => {
              try {
                await acts.restoreTarget.executeWithOptions(
                  summarised(
                    `rollback: restore ${target.name} as it was (old token ${detection.currentTokenId})`,
                    undoing,
                  ),
                  [{ target: target.ref, snapshot, previous: detection.current }],
                );
                state('restored');
              } catch (error) {
                state('restore-failed');
                throw error;
              }
            },
          });
        try {
          await recover(`write ${target.name}`, () =>
            acts.writeTarget.executeWithOptions(
              summarised(`write new token ${issued.tokenId} to ${target.name}`),
              [{ target: target.ref, value: issued.staged, audit: audit.context('distribute', target.name) }],
            ),
          );
          state('written');
        } catch (error) {
          state('failed');
          throw error;
        }
      });
    });
    status.switchedAt = new Date().toISOString();

    if (!rollsForward)
      undo.push({
        what: `keep Vault ${plan.vault.mount}/${plan.vault.path} at v${detection.current.version}`,
        run: () =>
          acts.rePromotePrevious.executeWithOptions(
            summarised(
              `rollback: keep Vault ${plan.vault.mount}/${plan.vault.path} at v${detection.current.version}`,
              undoing,
            ),
            [{ previous: detection.current, promotedTokenId: issued.tokenId }],
          ),
      });
    const promoted = await step('promote', 'promoting', () =>
      recover('promote', () =>
        acts.promoteStaged.executeWithOptions(
          summarised(
            `promote new token ${issued.tokenId} (staged v${issued.staged.version}) to current in Vault ` +
              `${plan.vault.mount}/${plan.vault.path}`,
          ),
          [
            {
              staged: issued.staged,
              current: plan.vault,
              cas: detection.current.version,
              audit: audit.context('promote', `Vault ${plan.vault.mount}/${plan.vault.path}`),
            },
          ],
        ),
      ),
    );
    status.vault = {
      current: promoted.version,
      previous: detection.current.version,
      staged: issued.staged.version,
    };
    return issued;
  };

  let issued: Awaited<ReturnType<typeof untilPromoted>>;
  try {
    issued = await untilPromoted();
  } catch (error) {
    return rolledBack(error);
  }

  /**
   * Whether the provider saw the old token used after the targets switched: an alert if so. GitLab updates
   * `last_used_at` at most every ~10 minutes, so a use shortly before the switch may show as later, and a
   * use shortly after may not show yet; a null (never used, or not reported) counts as unused.
   */
  const oldTokenStillUsed = async (): Promise<string | undefined> => {
    const tokenId = detection.currentTokenId;
    const old = await recover(`check whether old token ${tokenId} is still used`, () =>
      acts.inspectCredential.executeWithOptions(
        summarised(`check whether old token ${tokenId} is still used`),
        [{ source, tokenId }],
      ),
    );
    const switchedAt = status.switchedAt;
    if (old.lastUsedAt === null || switchedAt === undefined) return undefined;
    if (Date.parse(old.lastUsedAt) <= Date.parse(switchedAt)) return undefined;
    return (
      `old token ${tokenId} was used at ${old.lastUsedAt}, after the targets switched at ${switchedAt}: ` +
      `something still holds it; overlap extended once, then revoked`
    );
  };

  // From here on the new credential is live everywhere: a failure is reported, never rolled back.
  try {
    let alert: string | undefined;
    if (status.abortedBy === undefined) await step('resume dependents', 'resuming', resumeAll);
    if (status.abortedBy === undefined) {
      await step('overlap window', 'overlapping', async () => {
        await overlap(
          plan.policy.overlap,
          issued.revokedTokenId === undefined
            ? `revoking old token ${detection.currentTokenId}`
            : `ending (rotating in place revoked token ${issued.revokedTokenId} already)`,
        );
        if (issued.revokedTokenId !== undefined) return;
        alert = await oldTokenStillUsed();
        if (alert === undefined) return;
        status.alerts.push(alert);
        recordDecision(status, 'old token still used after the switch: overlap extended once');
        // The alert goes out while the extended window runs, which an operator may end at once.
        const alerted = raiseAlert('old-token-still-used', alert);
        // Once only: after this extension the old token is revoked whoever still holds it.
        await overlap(
          Math.max(plan.policy.overlap, MIN_USED_EXTENSION_MS),
          `revoking old token ${detection.currentTokenId}, still used after the switch`,
        );
        await alerted;
      });
    }
    if (status.abortedBy === undefined && issued.revokedTokenId === undefined) {
      await step('revoke old', 'revoking', () =>
        recover('revoke old', () =>
          acts.revokeCredential.executeWithOptions(
            summarised(`revoke old token ${detection.currentTokenId} of ${plan.source.name}`),
            [
              {
                source,
                tokenId: detection.currentTokenId,
                audit: {
                  ...audit.context('revoke old', plan.source.name),
                  ...(alert === undefined ? {} : { alert }),
                },
              },
            ],
          ),
        ),
      );
    }
  } catch (error) {
    const failed = failedStep('resume dependents');
    // Revoking the old token is the last step, so after any failure here it is still valid.
    const oldLeft =
      issued.revokedTokenId === undefined
        ? `old token ${detection.currentTokenId} is still valid: revoke it by hand`
        : undefined;
    if (oldLeft !== undefined) status.alerts.push(oldLeft);
    finish('failed', `${failed} failed after promote`);
    const message =
      `rotate ${id}: ${failed} failed after promote (${describeFailure(error)}), not rolled back: ` +
      `new token ${issued.tokenId} is live in Vault and every target${oldLeft === undefined ? '' : `; ${oldLeft}`}`;
    const unrecorded = await audit.recordOutcome('failed', 'failed', message);
    await raiseAlert('needs-operator', message + unrecorded);
    throw ApplicationFailure.create({
      type: 'RotationIncomplete',
      nonRetryable: true,
      message: message + unrecorded,
      cause: error instanceof Error ? error : undefined,
    });
  }
  if (status.abortedBy !== undefined) {
    // The targets switch back to the old token: what runs against them is paused again meanwhile.
    if (paused.length === 0 && plan.dependents.length > 0) {
      // Should pausing fail, rolling back is still better than leaving the rotation half undone.
      await step('pause dependents again', 'rolling-back', () => pauseAll('rollback')).catch(() => undefined);
    }
    return rolledBack(new RotationAborted());
  }
  return finish('rotated', `token ${detection.currentTokenId} replaced by token ${issued.tokenId}`);
}

/** Runs `each` for every item at once and waits for all, so that rollback never races a step still running. */
async function inParallel<T>(items: T[], each: (item: T, index: number) => Promise<unknown>): Promise<void> {
  const results = await Promise.allSettled(items.map(each));
  const failure = results.find((result) => result.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
}
