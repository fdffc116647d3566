import {
  CancellationScope,
  condition,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_TYPES } from '../src/failure-types';

/** A worker that dies mid-step is noticed this soon: the activities heartbeat every 2 s. */
export const HEARTBEAT_TIMEOUT = '10 seconds';

/** A step's activity: tried five times, a second to half a minute apart, before its failure is classified. */
export const retried: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
  },
};
/** A repeated mint can make GitLab revoke a whole token family, so issue runs once. */
export const once: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 1 },
};
/** Rollback must get through, so it tries longer before it calls an operator. */
export const compensating = (maximumAttempts = 10): ActivityOptions => ({
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts },
});

const activities = proxyActivities<Activities>(retried);
/** Reading the inventory is bookkeeping that changes nothing: a local activity, one history event. */
const inventoryRead: LocalActivityOptions = { startToCloseTimeout: '30 seconds', retry: retried.retry };
const locals = proxyLocalActivities<Activities>(inventoryRead);
/**
 * A step's call as a local activity (one history event instead of three), tried as `retried` is; a backoff
 * longer than a few seconds (a provider's `Retry-After`) becomes a timer instead of holding the workflow task.
 */
export const retriedLocally: LocalActivityOptions = { ...inventoryRead, localRetryThreshold: '10 seconds' };

type Name = keyof Activities;
type Result<K extends Name> = Promise<Awaited<ReturnType<Activities[K]>>>;
/** What the SDK's proxies hold for each activity; TypeScript cannot resolve their mapped type for a generic K. */
type WithOptions<K extends Name> = {
  executeWithOptions(
    options: ActivityOptions | LocalActivityOptions,
    args: Parameters<Activities[K]>,
  ): Result<K>;
};
const proxied = <K extends Name>(proxy: typeof activities | typeof locals, name: K) =>
  proxy[name] as unknown as WithOptions<K>;

/** Runs activity `name` with `summary` for the Web UI, retried unless `options` say otherwise. */
export function run<K extends Name>(
  name: K,
  summary: string,
  args: Parameters<Activities[K]>,
  options: ActivityOptions = retried,
): Result<K> {
  return proxied(activities, name).executeWithOptions({ ...options, summary }, args);
}

/**
 * Runs `work` until it answers, or until `stop()` holds (an abort, an operator moving a window's end): then
 * `work` is cancelled and undefined answered, for the caller to decide what next.
 */
export function unlessStopped<T>(work: () => Promise<T>, stop: () => boolean): Promise<T | undefined> {
  return CancellationScope.cancellable(async () => {
    try {
      return await Promise.race([work(), condition(stop).then(() => undefined)]);
    } finally {
      CancellationScope.current().cancel();
    }
  });
}

/**
 * Runs activity `name` as a local activity, its `summary` on its marker in the Web UI: for reads that change
 * nothing, and for short writes whose history events would otherwise grow with the number of targets.
 */
export function runLocal<K extends Name>(
  name: K,
  summary: string,
  args: Parameters<Activities[K]>,
  options: LocalActivityOptions = inventoryRead,
): Result<K> {
  return proxied(locals, name).executeWithOptions({ ...options, summary }, args);
}
