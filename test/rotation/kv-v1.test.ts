import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import createVaultClient from 'node-vault';
import { createActivities } from '../../activities';
import type { DetectInput } from '../../activities/rotation';
import { VaultKvStore } from '../../src/vault';
import { noAudit } from '../helpers/audit';
import { testServers } from '../infra/test-servers';

const { vault: server } = testServers();
const mount = `kv-v1-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  await createVaultClient({ endpoint: server.endpoint, token: server.token }).mount({
    mount_point: mount,
    type: 'kv',
    options: { version: '1' },
  });
});

describe('a credential stored on a KV v1 mount', () => {
  it('is refused at detect, naming the mount, before any step that mints', async () => {
    const activities = createActivities({
      vault: new VaultKvStore(server),
      inventoryPath: '/none',
      audit: noAudit,
    });
    const input: DetectInput = {
      // Never asked: the mount is checked first.
      source: {
        kind: 'gitlab-project-access-token',
        connection: { url: 'https://gitlab.invalid', credential: { mount, path: 'admin', key: 'token' } },
        spec: {},
      },
      store: { mount, path: 'deployer' },
      policy: { every: 86_400_000, overlap: 0 } as DetectInput['policy'],
      request: { credentialId: 'deployer', reason: 'manual', requestedBy: 'test' },
    };
    const detect = new MockActivityEnvironment().run(activities.detectRotation, input);
    await expect(detect).rejects.toMatchObject({
      message: expect.stringContaining(`Vault mount ${mount} is KV version 1`),
      nonRetryable: true,
    });
  });
});
