import { ApplicationFailure, Context } from '@temporalio/activity';
import type { z } from 'zod';
import { ProviderError } from '../src/providers/errors';
import { redactSecrets, withSecretScope } from '../src/redaction';
import { ValidationError, parseOrThrow } from '../src/validation';
import { StoreError } from '../src/stores/store';
import { FAILURE_TYPES, providerFailureType } from '../src/failure-types';

/** Often enough for the shortest heartbeat timeout the workflow sets (10 s); the SDK throttles the rest. */
const HEARTBEAT_EVERY_MS = 2_000;

/** The details the workflow classifies a failure by (see workflows/failures.ts); never a value. */
export interface FailureDetails {
  /** `gitlab`, `github`, `vault`, or another store's kind. */
  system: string;
  status?: number;
  /** A store's check-and-set lost: someone else wrote in between. */
  conflict?: true;
  /** A store refused the worker's identity or its permissions. */
  denied?: true;
  /** The provider's `Retry-After`. */
  retryAfterMs?: number;
  /** The request may have changed something though no answer arrived. */
  outcomeUnknown?: boolean;
}

/**
 * Runs an activity's body with heartbeats, so that a worker that dies mid-step is noticed within the
 * heartbeat timeout instead of the whole start-to-close timeout, and maps adapter errors to Temporal
 * failures: bad input and permanent refusals are not retried, and a provider's `Retry-After` becomes the
 * next retry's delay. Every failure leaves with token-shaped values and the Vault values the body touched
 * removed (src/redaction.ts): the workflow's history, the Web UI and the logs all show this failure.
 */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  return withSecretScope(async () => {
    const heartbeat = heartbeatWhile();
    try {
      return await body();
    } catch (error) {
      throw redactFailure(toFailure(error));
    } finally {
      clearInterval(heartbeat);
    }
  });
}

/**
 * Declares activities run by `run` (asActivity, or a wrapper of it) as an input schema and a body: the input
 * is checked inside `run`, so bad input fails as a non-retryable ValidationError, redacted like any failure.
 */
export const checkedActivity =
  (run: <T>(body: () => Promise<T>) => Promise<T>) =>
  <S extends z.ZodType, R>(name: string, schema: S, body: (input: z.output<S>) => Promise<R>) =>
  (input: z.input<S>): Promise<R> =>
    run(() => body(parseOrThrow(schema, input, `${name} input`)));

/**
 * Heartbeats only inside an activity (tests also call the activity functions directly), and not in a local
 * one: it has no heartbeat timeout, the workflow task it runs in notices a dead worker.
 */
function heartbeatWhile(): NodeJS.Timeout | undefined {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return undefined;
  }
  if (context.info.isLocal) return undefined;
  return setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
}

function toFailure(error: unknown): unknown {
  if (error instanceof ValidationError) return ApplicationFailure.nonRetryable(error.message, error.name);
  if (error instanceof StoreError) {
    const details: FailureDetails = {
      system: error.system,
      status: error.status,
      ...(error.failure === 'conflict' ? { conflict: true as const } : {}),
      ...(error.failure === 'denied' ? { denied: true as const } : {}),
    };
    return ApplicationFailure.create({
      message: error.message,
      type: FAILURE_TYPES.store,
      nonRetryable: !error.retryable,
      details: [details],
    });
  }
  if (error instanceof ProviderError) {
    const details: FailureDetails = {
      system: error.provider,
      status: error.status,
      retryAfterMs: error.retryAfterMs,
      outcomeUnknown: error.outcomeUnknown,
    };
    return ApplicationFailure.create({
      message: error.message,
      type: providerFailureType(error.kind),
      nonRetryable: !error.retryable,
      nextRetryDelay: error.retryAfterMs,
      details: [details],
    });
  }
  return error;
}

/**
 * Cleans a failure in place, so that its class, type and retryability stay what they were; the SDK sends
 * the message, the stack, string details and the whole cause chain to the server.
 */
function redactFailure(error: unknown, seen = new Set<unknown>()): unknown {
  if (!(error instanceof Error) || seen.has(error)) return error;
  seen.add(error);
  error.message = redactSecrets(error.message);
  if (error.stack !== undefined) error.stack = redactSecrets(error.stack);
  if (error instanceof ApplicationFailure && error.details) {
    Object.assign(error, {
      details: error.details.map((detail) => (typeof detail === 'string' ? redactSecrets(detail) : detail)),
    });
  }
  redactFailure(error.cause, seen);
  return error;
}
