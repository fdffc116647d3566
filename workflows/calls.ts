import {
  CancellationScope,
  condition,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
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
const inventoryRead: ActivityOptions = { startToCloseTimeout: '30 seconds', retry: retried.retry };
const locals = proxyLocalActivities<Activities>(inventoryRead);

type Name = keyof Activities;
type Result<K extends Name> = Promise<Awaited<ReturnType<Activities[K]>>>;
/** What the SDK's proxies hold for each activity; TypeScript cannot resolve their mapped type for a generic K. */
type WithOptions<K extends Name> = {
  executeWithOptions(options: ActivityOptions, args: Parameters<Activities[K]>): Result<K>;
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

/** Runs activity `name` as a local activity: for reads that change nothing. */
export function runLocal<K extends Name>(
  name: K,
  summary: string,
  args: Parameters<Activities[K]>,
): Result<K> {
  return proxied(locals, name).executeWithOptions({ ...inventoryRead, summary }, args);
}
