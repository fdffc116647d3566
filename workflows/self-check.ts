import { proxyActivities } from '@temporalio/workflow';
import type { Activities, CopySecretVersionInput } from '../activities';
import type { SecretVersion } from '../src/vault';

const { copySecretVersion } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

/**
 * Proves the whole chain a rotation relies on: this worker runs a workflow on Temporal whose
 * activity reads a Vault secret by reference and writes it elsewhere. Only paths and versions
 * travel through the workflow's history.
 */
export async function selfCheck(input: CopySecretVersionInput): Promise<SecretVersion> {
  return copySecretVersion(input);
}
