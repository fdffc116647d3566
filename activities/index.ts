import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { ValidationError, parseOrThrow } from '../src/validation';
import {
  VaultError,
  secretPathSchema,
  secretVersionSchema,
  type SecretStore,
  type SecretVersion,
} from '../src/vault';

export const copySecretVersionInputSchema = z
  .object({ from: secretVersionSchema, to: secretPathSchema })
  .strict();
export type CopySecretVersionInput = z.infer<typeof copySecretVersionInputSchema>;

/** Dependencies the activities reach the outside world through; tests and the worker pass real ones. */
export interface ActivityDependencies {
  vault: SecretStore;
}

export function createActivities({ vault }: ActivityDependencies) {
  return {
    /** Copies one version of a secret to another path by reference: the value stays between Vault and here. */
    async copySecretVersion(input: CopySecretVersionInput): Promise<SecretVersion> {
      return asActivity(async () => {
        const { from, to } = parseOrThrow(copySecretVersionInputSchema, input, 'copySecretVersion input');
        const { data } = await vault.read(from, from.version);
        return vault.write(to, data);
      });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** Maps adapter errors to Temporal failures: bad input and permanent refusals are not retried. */
async function asActivity<T>(body: () => Promise<T>): Promise<T> {
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
    throw error;
  }
}
