import { Context } from '@temporalio/activity';
import { ProviderError } from '../src/providers/errors';

/** The longest a provider's `Retry-After` is waited out inside a wait, before it is asked again. */
const MAX_RATE_LIMIT_WAIT_MS = 5 * 60_000;

/** A wait inside the activity, cut short when the workflow cancels it (its heartbeats carry the request). */
function pause(ms: number): Promise<void> {
  try {
    return Context.current().sleep(ms);
  } catch {
    // Called outside an activity (tests of the activity functions).
    return new Promise((wake) => setTimeout(wake, ms));
  }
}

/**
 * Asks `look` every `pollMs` until `done` says its answer is the one to return, or `until` (epoch ms)
 * passes: one activity for a long wait, so that the history grows with what changes, not with each look. A
 * rate limit is waited out here, as long as the provider asks.
 */
export async function pollUntil<T>(options: {
  look: () => Promise<T>;
  done: (answer: T) => boolean;
  until: number;
  pollMs: number;
}): Promise<T> {
  for (;;) {
    let answer: T;
    try {
      answer = await options.look();
    } catch (error) {
      if (!(error instanceof ProviderError && error.kind === 'rate-limited')) throw error;
      await pause(Math.min(error.retryAfterMs ?? options.pollMs, MAX_RATE_LIMIT_WAIT_MS));
      continue;
    }
    if (options.done(answer) || Date.now() >= options.until) return answer;
    await pause(Math.max(0, Math.min(options.pollMs, options.until - Date.now())));
  }
}
