import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineUpdate,
  setHandler,
} from '@temporalio/workflow';
import type { VerifiedApproval } from '../activities/approval';
import type { Approval } from '../src/approval/statement';
import { FAILURE_TYPES } from '../src/failure-types';
import { messageOf } from './failures';
import { humanDuration } from '../src/human-duration';
import { FORWARD_PHASES, type RotationStatus } from './status';

/**
 * Lets a rotation that awaits approval go on, once an approver's signature checks out (`rotator approve`);
 * an abort ends the wait too. Answers when it was approved.
 */
export const approve = defineUpdate<string, [Approval]>('approve');
/** Revokes the old credential now instead of at the end of the overlap window; answers when it ended. */
export const endOverlapNow = defineUpdate<string, [{ requestedBy: string }]>('endOverlapNow');
/** Keeps the old credential valid for this many more minutes; answers the new end. */
export const extendOverlap = defineUpdate<string, [{ minutes: number; requestedBy: string }]>(
  'extendOverlap',
);
/** Runs the compensations that failed once more, after an operator fixed the cause; answers when. */
export const retryRollback = defineUpdate<string, [{ requestedBy: string }]>('retryRollback');
/** Ends a rollback that cannot finish, with outcome `failed`, once an operator has taken it over; answers when. */
export const resolve = defineUpdate<string, [{ resolvedBy: string; note: string }]>('resolve');

/**
 * Stops a rotation and rolls it back: before promote at the next step, during the overlap window at once
 * (dependents paused again while the targets switch back). Answers when it was asked.
 */
export const abort = defineUpdate<string, [{ requestedBy: string; reason: string }]>('abort');

/** Phases in which a rotation can still be rolled back; revoking the old token is past that point. */
const ABORTABLE: ReadonlySet<RotationStatus['phase']> = new Set([
  'detecting',
  'awaiting-approval',
  ...FORWARD_PHASES,
  'resuming',
  'overlapping',
]);

/** Records an operator's `abort`; the workflow acts on `status.abortedBy` at its next step or wait. */
export function abortGate(status: RotationStatus): void {
  setHandler(
    abort,
    ({ requestedBy, reason }) => {
      status.abortedBy = { requestedBy, reason, phase: status.phase };
      return recordDecision(status, `aborted by ${requestedBy}: ${reason}`);
    },
    {
      validator: ({ requestedBy, reason }) => {
        if (status.abortedBy !== undefined)
          throw new Error(`already aborted by ${status.abortedBy.requestedBy}`);
        if (!ABORTABLE.has(status.phase)) throw new Error(`too late to abort (phase ${status.phase})`);
        requireText(requestedBy, 'requestedBy: the name of whoever aborts');
        requireText(reason, 'reason: why the rotation is aborted');
      },
    },
  );
}

/** What an operator decided about a rollback that could not finish. */
export type OperatorDecision = { retriedBy: string } | { resolvedBy: string; note: string };

/** An operator's decision, as a moment in the timeline. */
export function recordDecision(status: RotationStatus, step: string): string {
  const at = new Date().toISOString();
  status.timeline.push({ step, startedAt: at, endedAt: at, result: 'ok' });
  return at;
}

function requireText(value: unknown, what: string): void {
  if (typeof value !== 'string' || value.trim() === '') throw new Error(`expected ${what}`);
}

/**
 * Waits, in phase `needs-operator`, for `retryRollback` or `resolve`; the updates are refused in any other
 * phase. Cancellation cannot end the wait: only an operator can.
 */
export function operatorGate(status: RotationStatus) {
  let decide: ((decision: OperatorDecision) => void) | undefined;
  const decided = (decision: OperatorDecision, moment: string) => {
    decide?.(decision);
    decide = undefined;
    return recordDecision(status, moment);
  };
  const awaited = () => {
    if (status.phase !== 'needs-operator' || decide === undefined) {
      throw new Error(`no rollback awaits an operator (phase ${status.phase})`);
    }
  };
  setHandler(
    retryRollback,
    ({ requestedBy }) => decided({ retriedBy: requestedBy }, `rollback retried by ${requestedBy}`),
    {
      validator: ({ requestedBy }) => {
        awaited();
        requireText(requestedBy, 'requestedBy: the name of whoever retries');
      },
    },
  );
  setHandler(
    resolve,
    ({ resolvedBy, note }) => decided({ resolvedBy, note }, `resolved by ${resolvedBy}: ${note}`),
    {
      validator: ({ resolvedBy, note }) => {
        awaited();
        requireText(resolvedBy, 'resolvedBy: the name of whoever takes the rollback over');
        requireText(note, 'note: what the operator did or will do');
      },
    },
  );
  return (): Promise<OperatorDecision> =>
    CancellationScope.nonCancellable(
      () =>
        new Promise<OperatorDecision>((settle) => {
          decide = settle;
        }),
    );
}

/**
 * Waits for an `approve` update whose signature `verify` accepts (an activity: the workflow cannot check a
 * signature itself); answers who approved, or undefined when the timeout ran out first. A refused approval
 * fails the update with the reason and changes nothing.
 */
export function approvalGate(
  status: RotationStatus,
  verify: (approval: Approval) => Promise<VerifiedApproval>,
) {
  const awaiting = (_approval?: unknown) => {
    if (status.approvedBy !== undefined) throw new Error(`already approved by ${status.approvedBy}`);
    if (status.phase !== 'awaiting-approval' && status.phase !== 'awaiting-review')
      throw new Error(`nothing awaits approval (phase ${status.phase})`);
  };
  setHandler(
    approve,
    async (approval) => {
      const verified = await verify(approval).catch((error: unknown) => {
        recordDecision(status, `approval by ${String(approval.approvedBy)} refused`);
        throw ApplicationFailure.nonRetryable(messageOf(error), FAILURE_TYPES.approvalRefused);
      });
      // Another approval, an abort or the timeout may have come while the signature was checked.
      try {
        awaiting();
      } catch (error) {
        throw ApplicationFailure.nonRetryable(messageOf(error), FAILURE_TYPES.approvalRefused);
      }
      status.approvedBy = verified.approver;
      status.approvalKey = verified.fingerprint;
      return recordDecision(status, `approved by ${verified.approver} (key ${verified.fingerprint})`);
    },
    { validator: awaiting },
  );
  /** Waits up to `timeoutMs`; `summary` says for the Web UI what is awaited, and what happens after. */
  return async (
    timeoutMs: number,
    summary = `wait up to ${humanDuration(timeoutMs)} for approval (\`rotator approve ${status.credentialId}\`), then cancel`,
  ): Promise<string | undefined> =>
    (await condition(() => status.approvedBy !== undefined || status.abortedBy !== undefined, timeoutMs, {
      summary,
    }))
      ? status.approvedBy
      : undefined;
}

/**
 * The overlap window: a durable timer that `endOverlapNow` shortens, `extendOverlap` lengthens and `abort`
 * ends. `changed` runs whenever its end moves, so that the Web UI shows the new end.
 */
export function overlapWindow(status: RotationStatus, changed: () => void) {
  let endsAt = 0;
  let ended = false;
  const whileOpen = (_request?: unknown) => {
    if (status.phase !== 'overlapping') throw new Error(`no overlap window is open (phase ${status.phase})`);
  };
  setHandler(
    endOverlapNow,
    ({ requestedBy }) => {
      endsAt = Date.now();
      ended = true;
      status.overlapEndsAt = new Date(endsAt).toISOString();
      recordDecision(status, `overlap ended early by ${requestedBy}`);
      return status.overlapEndsAt;
    },
    { validator: whileOpen },
  );
  setHandler(
    extendOverlap,
    ({ minutes, requestedBy }) => {
      endsAt += minutes * 60_000;
      status.overlapEndsAt = new Date(endsAt).toISOString();
      recordDecision(status, `overlap extended by ${minutes} minutes by ${requestedBy}`);
      return status.overlapEndsAt;
    },
    {
      validator: ({ minutes }) => {
        whileOpen();
        if (!Number.isInteger(minutes) || minutes < 1 || minutes > 7 * 24 * 60) {
          throw new Error('expected whole minutes from 1 to 10080');
        }
      },
    },
  );
  const openUntil = (at: number) => {
    endsAt = at;
    status.overlapEndsAt = new Date(at).toISOString();
    changed();
  };
  /** `before` says what the window comes before, such as `revoking old token 12`. */
  const wait = async (ms: number, before: string) => {
    endsAt = Date.now() + ms;
    while (Date.now() < endsAt && status.abortedBy === undefined) {
      const until = endsAt;
      openUntil(until);
      const wait = humanDuration(until - Date.now());
      await condition(() => endsAt !== until || status.abortedBy !== undefined, until - Date.now(), {
        summary: `wait ${wait} overlap (until ${status.overlapEndsAt}) before ${before}`,
      });
    }
  };
  return Object.assign(wait, {
    /** Opens the window until `at` without a timer: the operator's updates move its end as they move a wait's. */
    openUntil,
    /** Where the window ends, as the operator last left it. */
    endsAt: () => endsAt,
    /** Whether an operator ended the window early. */
    endedByOperator: () => ended,
  });
}
