import { ActivityFailure, ApplicationFailure, TimeoutFailure, isCancellation } from '@temporalio/workflow';
import type { FailureDetails } from '../activities/failures';
import { FAILURE_TYPES, providerKindOf } from '../src/failure-types';

/**
 * The runbook's classes of failure (docs/design.md, "The rotation, as a state machine"), each with its
 * own recovery: `rate-limited` waits the provider out, `store-unavailable` waits (bounded) for the store,
 * `lost-response` looks before minting again; the rest roll back.
 */
export type FailureClass =
  | 'transient'
  | 'rate-limited'
  | 'auth'
  | 'conflict'
  | 'lost-response'
  | 'store-unavailable'
  | 'permanent'
  | 'cancelled';

export interface ClassifiedFailure {
  class: FailureClass;
  /** The activity's own message: names the system, resource and status, never a value. */
  message: string;
  retryAfterMs?: number;
  /** A failure an operator must act on even after rollback, such as a credential left with no live token. */
  alert: boolean;
  /** The rotation's outcome this failure decides, instead of `rolled-back`. */
  outcome?: 'compromised' | 'compromised-or-lost';
  /** The credential's store failed, not a provider: an `auth` failure is the worker's own access to it. */
  fromStore?: true;
}

/** Failure types the activities raise themselves, by class. */
const OWN_TYPES: Record<string, FailureClass> = {
  [FAILURE_TYPES.validation]: 'permanent',
  [FAILURE_TYPES.inventory]: 'permanent',
  [FAILURE_TYPES.promoteConflict]: 'conflict',
  [FAILURE_TYPES.storeUnavailable]: 'store-unavailable',
  [FAILURE_TYPES.canaryFailed]: 'permanent',
};
const PROVIDER_KINDS: Record<string, FailureClass> = {
  auth: 'auth',
  'not-found': 'permanent',
  conflict: 'conflict',
  'rate-limited': 'rate-limited',
  transient: 'transient',
  permanent: 'permanent',
};

/** Classifies what a step activity raised once its retries were spent. */
export function classifyFailure(error: unknown): ClassifiedFailure {
  const message = messageOf(error);
  const classified = (cls: FailureClass, extra: Partial<ClassifiedFailure> = {}): ClassifiedFailure => ({
    class: cls,
    message,
    alert: false,
    ...extra,
  });
  if (isCancellation(error)) return classified('cancelled');
  const cause = error instanceof ActivityFailure ? error.cause : error;
  // No answer within the timeouts (a worker that died, a call that hung): the step may have happened.
  if (cause instanceof TimeoutFailure) return classified('lost-response');
  if (!(cause instanceof ApplicationFailure)) return classified('transient');
  const details = (cause.details?.[0] ?? {}) as FailureDetails;
  const type = cause.type ?? '';
  // No live token is left: like a revoked OAuth2 chain, a person must make one (docs/operations.md, "A credential left without a live token").
  if (type === FAILURE_TYPES.credentialLost)
    return classified('permanent', { alert: true, outcome: 'compromised-or-lost' });
  if (type in OWN_TYPES) return classified(OWN_TYPES[type] as FailureClass);
  if (type === FAILURE_TYPES.store) {
    const fromStore = { fromStore: true as const };
    if (details.denied === true) return classified('auth', fromStore);
    // Vault answers a lost check-and-set with 400, which 0.2.0 recorded without `conflict`.
    const vaultCas = details.system === 'vault' && details.status === 400;
    if (details.conflict === true || vaultCas) return classified('conflict', fromStore);
    return classified(cause.nonRetryable ? 'permanent' : 'store-unavailable', fromStore);
  }
  const kind = providerKindOf(type);
  if (kind === undefined) return classified(cause.nonRetryable ? 'permanent' : 'transient');
  if (details.outcomeUnknown === true) return classified('lost-response');
  if (kind === 'credential-lost')
    return classified('permanent', { alert: true, outcome: 'compromised-or-lost' });
  if (kind === 'compromised') return classified('permanent', { alert: true, outcome: 'compromised' });
  return classified(PROVIDER_KINDS[kind] ?? 'permanent', { retryAfterMs: details.retryAfterMs });
}

/** An activity's own message rather than Temporal's "Activity task failed"; never carries a value. */
export function messageOf(error: unknown): string {
  if (isCancellation(error)) return 'cancelled';
  if (error instanceof ActivityFailure) return error.cause?.message ?? error.message;
  return error instanceof Error ? error.message : String(error);
}

/** What an operator does about a failure that rolled a rotation back, by its class, before rotating again. */
const WHAT_TO_DO: Record<Exclude<FailureClass, 'cancelled'>, string> = {
  auth: "check that the provider's admin token is valid and allowed to do this",
  permanent: 'fix what the message names, in the inventory or at the provider',
  conflict: 'find out who else changed it',
  transient: 'check that the provider is up',
  'rate-limited': "let the provider's rate limit pass",
  'lost-response': 'look at the provider for tokens the lost answer left behind',
  'store-unavailable': 'check that the store is up (Vault: unsealed) and the worker may read it',
};

/** What an operator does about a store that refuses the worker. */
const STORE_DENIED =
  "check the worker's credentials for the store and the policy they carry (`rotator vault policy`, `rotator aws policy`)";

/** What an operator does about a canary run that failed or timed out. */
const CANARY_FAILED =
  "read the canary run's log: the new token did not work where it is used (its scopes, a masked or protected " +
  'variable, the pipeline itself); in an emergency `rotator rotate <id> --skip-canary <reason>` rotates without it';

/** The failure's class and its own message (provider, resource, HTTP status), for the rotation's failure message. */
export function describeFailure(error: unknown): string {
  const failure = classifyFailure(error);
  return failure.class === 'cancelled' ? 'cancelled' : `${failure.class}: ${failure.message}`;
}

/** What an operator does about a failure that rolled a rotation back, then how to rotate again. */
export function whatToDo(error: unknown, failedStep: string, id: string): string | undefined {
  const failure = classifyFailure(error);
  if (failure.class === 'cancelled') return undefined;
  // Verify uses the new token, not the admin token: refused, it lacks what the inventory gives it.
  const toDo =
    failure.class === 'auth' && failure.fromStore === true
      ? STORE_DENIED
      : failure.class === 'auth' && failedStep === 'verify'
        ? "check the new token's scopes and access level in the inventory"
        : failedStep === 'canary' && failure.class === 'permanent'
          ? CANARY_FAILED
          : WHAT_TO_DO[failure.class];
  return `${toDo}, then \`rotator rotate ${id} --force\``;
}
