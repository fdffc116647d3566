import { sleep } from '@temporalio/workflow';
import { classifyFailure, type ClassifiedFailure, type FailureClass } from './failures';

/** A failure of one step, as the `status` query shows it: what failed, its class, and what recovery did. */
export interface FailureRecord {
  step: string;
  class: FailureClass;
  /** Names the system, resource and status; never a value. */
  message: string;
  at: string;
  /** What recovery did about it, or why there was none. */
  recovery: string;
  recovered: boolean;
}

/** The classes a step can recover from by waiting and trying once more. */
export type WaitingClass = Extract<FailureClass, 'rate-limited' | 'store-unavailable'>;

/** The longest a step waits out a provider's rate limit; a longer `Retry-After` is waited out this long. */
const MAX_RATE_LIMIT_WAIT_MS = 15 * 60_000;
/** A provider that asks to slow down without saying for how long is given this long. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

export interface RecoveryDeps {
  failures: FailureRecord[];
  /** Runs a recovery as its own step in the timeline, in phase `recovering`, then returns to the phase before. */
  recoveryStep: <T>(name: string, run: () => Promise<T>) => Promise<T>;
  /** The bounded wait for the store: an activity that polls until the store answers or its time is up. */
  awaitStore: () => Promise<void>;
  /** Tells the audit trail, so that the retried step records what was recovered from. */
  recovered: (detail: string) => void;
  /** What recovery did about an auth failure: the adapter has already tried the fallback admin token. */
  authNote: string;
}

/**
 * The runbook's recover move for one step activity: once its own retries are spent, the failure is
 * classified and recorded; a rate limit is waited out and an unavailable store waited for (bounded, each a
 * step of its own), then the activity runs once more. Anything else, or a second failure, goes on to the
 * caller, which rolls back.
 */
export function recovering(deps: RecoveryDeps) {
  const noteFor = (failure: ClassifiedFailure): string => {
    if (failure.class === 'auth')
      return failure.fromStore === true ? 'none: the store refused the worker, so roll back' : deps.authNote;
    if (failure.class === 'conflict') return 're-read and re-checked: someone else changed it, so roll back';
    if (failure.class === 'lost-response')
      return 'look for what the lost call left behind, revoke it, and issue afresh once';
    return 'none for this class: roll back';
  };
  /** After `call` failed with `error` once its retries were spent: recovers as above, or rethrows. */
  const recoverFrom = async <T>(
    what: string,
    error: unknown,
    call: () => Promise<T>,
    recoverable: readonly WaitingClass[] = ['rate-limited', 'store-unavailable'],
  ): Promise<T> => {
    const failure = classifyFailure(error);
    const record: FailureRecord = {
      step: what,
      class: failure.class,
      message: failure.message,
      at: new Date().toISOString(),
      recovery: noteFor(failure),
      recovered: false,
    };
    deps.failures.push(record);
    if (!(recoverable as readonly FailureClass[]).includes(failure.class)) throw error;
    if (failure.class === 'rate-limited') {
      const waitMs = Math.min(failure.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS, MAX_RATE_LIMIT_WAIT_MS);
      record.recovery = `waited ${waitMs / 1000}s for the rate limit, then tried once more`;
      await deps.recoveryStep(`wait out the rate limit (${waitMs / 1000}s)`, () =>
        sleep(waitMs, { summary: `${what}: rate-limited; wait ${waitMs / 1000}s, then try once more` }),
      );
    } else {
      record.recovery = 'waited for the store to answer, then tried once more';
      await deps.recoveryStep('wait for the store', deps.awaitStore).catch((waitError: unknown) => {
        record.recovery = `waited for the store in vain (${classifyFailure(waitError).message})`;
        throw error;
      });
    }
    deps.recovered(`${what} was ${failure.class}: ${record.recovery}`);
    const result = await call();
    record.recovered = true;
    return result;
  };
  const recover = async <T>(
    what: string,
    call: () => Promise<T>,
    recoverable?: readonly WaitingClass[],
  ): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      return recoverFrom(what, error, call, recoverable);
    }
  };
  return Object.assign(recover, { from: recoverFrom });
}
