import { ApplicationFailure } from '@temporalio/workflow';
import { FAILURE_TYPES } from '../src/failure-types';
import { describeFailure, whatToDo } from './failures';
import { compensate, rollbackReport } from './rollback';
import { RotationAborted, type Rotation } from './rotation';
import type { RotationStatus } from './status';
import { pauseAll } from './steps/dependents';

/*
 * How a rotation ends when it does not simply rotate: each end records itself in the status, the audit log
 * and an alert, and fails the workflow with a message that says what was done and what is left to do.
 */

/** Never approved within the timeout, or aborted before approval: nothing was changed. */
export async function notApproved(r: Rotation): Promise<RotationStatus> {
  const { abortedBy } = r.status;
  const detail =
    abortedBy === undefined
      ? `not approved within ${r.plan.policy.approvalTimeout / 1000}s: nothing was changed`
      : `aborted by ${abortedBy.requestedBy} before approval (${abortedBy.reason}): nothing was changed`;
  return r.finish('cancelled', detail + (await r.audit.recordOutcome('skipped', 'cancelled', detail)));
}

/** Runs every undo; while some fail, an operator retries them or takes over (answers their words then). */
async function rollBack(r: Rotation): Promise<string | undefined> {
  r.enter('rolling-back');
  let failed = await compensate([...r.resumes, ...r.undo]);
  while (failed.length > 0) {
    await r.raiseAlert(
      'needs-operator',
      `rollback is stuck: ${failed.map(({ what, result }) => `${what}: ${result ?? 'not run'}`).join('; ')}; ` +
        `run \`rotator retry-rollback ${r.id}\`, or undo it by hand and run \`rotator resolve ${r.id}\``,
    );
    r.shown.stuck = failed.map(({ what }) => what).join('; ');
    const decision = await r.step('await operator', 'needs-operator', r.operator);
    if ('resolvedBy' in decision) return `; resolved by ${decision.resolvedBy}: ${decision.note}`;
    r.enter('rolling-back');
    failed = await compensate(failed);
  }
  return undefined;
}

/** Rolls back, records the end and fails the workflow with a message that says what was undone. */
export async function rolledBack(r: Rotation, error: unknown): Promise<never> {
  const failed = r.failedStep('load');
  const { abortedBy } = r.status;
  const what =
    abortedBy === undefined
      ? `${failed} failed (${describeFailure(error)})`
      : `aborted by ${abortedBy.requestedBy} while ${abortedBy.phase} (${abortedBy.reason})`;
  const resolution = await rollBack(r);
  // Rolled back is an all-clear only when nothing is left for anyone to do.
  const outcome =
    r.markedOutcome ?? (resolution === undefined && r.status.alerts.length === 0 ? 'rolled-back' : 'failed');
  // An abort is the operator's own doing, and a resolved rollback is in an operator's hands already.
  const toDo =
    abortedBy === undefined && resolution === undefined ? whatToDo(error, failed, r.id) : undefined;
  const restored =
    `rolled back: ${rollbackReport([...r.resumes, ...r.undo])}${resolution ?? ''}` +
    (toDo === undefined ? '' : `; to do: ${toDo}`);
  r.finish(
    outcome,
    `${abortedBy === undefined ? `${failed} failed` : `aborted by ${abortedBy.requestedBy}`}; ${restored}`,
  );
  const message = `rotate ${r.id}: ${what}; ${restored}`;
  const unrecorded = await r.audit.recordOutcome(
    outcome === 'rolled-back' ? 'rolled back' : 'failed',
    outcome,
    message,
  );
  await r.raiseAlert(r.markedOutcome ?? 'rollback', message + unrecorded);
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.rolledBack,
    nonRetryable: true,
    message: message + unrecorded,
    cause: error instanceof Error && !(error instanceof RotationAborted) ? error : undefined,
  });
}

/** Aborted in the overlap window: the targets switch back, with what runs against them paused again. */
export async function abortedAfterPromote(r: Rotation): Promise<never> {
  if (r.paused.length === 0 && r.plan.dependents.length > 0) {
    // Should pausing fail, rolling back is still better than leaving the rotation half undone.
    await r
      .step('pause dependents again', 'rolling-back', () => pauseAll(r, 'rollback'))
      .catch(() => undefined);
  }
  return rolledBack(r, new RotationAborted());
}

/** A step after promote failed: the new token is live everywhere, so it is reported, never rolled back. */
export async function failedAfterPromote(r: Rotation, error: unknown): Promise<never> {
  const { issued, detection } = r;
  const failed = r.failedStep('resume dependents');
  // Revoking the old token is the last step, so after any failure here it is still valid.
  const oldLeft =
    issued.revokedTokenId === undefined
      ? `old token ${detection.currentTokenId} is still valid: revoke it by hand`
      : undefined;
  if (oldLeft !== undefined) r.status.alerts.push(oldLeft);
  r.finish('failed', `${failed} failed after promote`);
  const message =
    `rotate ${r.id}: ${failed} failed after promote (${describeFailure(error)}), not rolled back: ` +
    `new token ${issued.tokenId} is live in Vault and every target${oldLeft === undefined ? '' : `; ${oldLeft}`}`;
  const unrecorded = await r.audit.recordOutcome('failed', 'failed', message);
  await r.raiseAlert('needs-operator', message + unrecorded);
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.incomplete,
    nonRetryable: true,
    message: message + unrecorded,
    cause: error instanceof Error ? error : undefined,
  });
}
