import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities, CopySecretVersionInput } from '../activities';
import type { SecretVersion } from '../src/vault';

const copying: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
};
const { copySecretVersion } = proxyActivities<Activities>(copying);

/**
 * Proves the whole chain a rotation relies on: this worker runs a workflow on Temporal whose
 * activity reads a Vault secret by reference and writes it elsewhere. Only paths and versions
 * travel through the workflow's history.
 */
export async function selfCheck(input: CopySecretVersionInput): Promise<SecretVersion> {
  // A fixed summary: the activity validates the input, which the workflow must not read before it.
  return copySecretVersion.executeWithOptions(
    { ...copying, summary: 'copy a Vault secret version by reference, as a rotation promotes one' },
    [input],
  );
}
