import { ApplicationFailure } from '@temporalio/activity';
import { ProviderError } from '../src/providers/errors';
import { ValidationError } from '../src/validation';
import { VaultError } from '../src/vault';

/**
 * Maps adapter errors to Temporal failures: bad input and permanent refusals are not retried, and a
 * provider's `Retry-After` becomes the next retry's delay.
 */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof ValidationError) throw ApplicationFailure.nonRetryable(error.message, error.name);
    if (error instanceof VaultError) {
      throw ApplicationFailure.create({
        message: error.message,
        type: error.name,
        nonRetryable: !error.retryable,
      });
    }
    if (error instanceof ProviderError) {
      throw ApplicationFailure.create({
        message: error.message,
        type: `${error.name}:${error.kind}`,
        nonRetryable: !error.retryable,
        nextRetryDelay: error.retryAfterMs,
        details: [
          {
            provider: error.provider,
            step: error.step,
            status: error.status,
            outcomeUnknown: error.outcomeUnknown,
          },
        ],
      });
    }
    throw error;
  }
}
