import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parse } from 'yaml';
import { startSandbox, type Sandbox } from '../../examples/sandbox';
import { verifyAuditLog } from '../../src/audit';
import { createLogger } from '../../src/logging';
import { ROTATION_OUTCOME } from '../../src/search-attributes';
import { until } from '../helpers/rotation';
import { testServers } from '../infra/test-servers';
import { testAuditTrust } from '../helpers/audit';

const servers = testServers();
const dataDir = mkdtempSync(join(tmpdir(), 'rotator-sandbox-'));
let sandbox: Sandbox | undefined;

afterAll(async () => {
  await sandbox?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the sandbox (npm run sandbox)', () => {
  it('rotates every credential of examples/sandbox.yaml at once: Temporal shows three rotated, one rolled back', async () => {
    sandbox = await startSandbox(
      {
        TEMPORAL_ADDRESS: servers.temporalAddress,
        VAULT_ADDR: servers.vault.endpoint,
        VAULT_TOKEN: servers.vault.token,
        TEMPORAL_TASK_QUEUE: `sandbox-${randomUUID()}`,
        ROTATOR_DATA_DIR: dataDir,
      },
      createLogger('error', new PassThrough()),
    );
    expect(sandbox.rotations).toHaveLength(4);
    const { client, taskQueue } = sandbox;

    // What a newcomer sees in the Web UI: closed rotations and their RotationOutcome search attribute.
    const outcomes = async () => {
      const seen: Record<string, unknown> = {};
      for await (const execution of client.workflow.list({
        query: `TaskQueue = '${taskQueue}' AND ExecutionStatus != 'Running'`,
      })) {
        seen[execution.workflowId] = [
          execution.status.name,
          execution.typedSearchAttributes.get(ROTATION_OUTCOME),
        ];
      }
      return seen;
    };
    await Promise.allSettled(sandbox.rotations.map((handle) => handle.result()));
    await until(async () => Object.keys(await outcomes()).length === 4);
    expect(await outcomes()).toEqual({
      'rotate/deployer-production': ['COMPLETED', 'rotated'],
      'rotate/release-bot-production': ['COMPLETED', 'rotated'],
      'rotate/mirror-staging': ['COMPLETED', 'rotated'],
      'rotate/docs-publisher-staging': ['FAILED', 'rolled-back'],
    });
    expect(
      await verifyAuditLog(join(dataDir, 'audit.jsonl'), testAuditTrust(join(dataDir, 'audit.jsonl'))),
    ).toMatchObject({ ok: true });
  });

  it('with --aws-secrets-manager keeps its first credential in Secrets Manager (moto) and rotates it there', async () => {
    await sandbox?.stop();
    const awsDataDir = join(dataDir, 'aws');
    sandbox = await startSandbox(
      {
        TEMPORAL_ADDRESS: servers.temporalAddress,
        VAULT_ADDR: servers.vault.endpoint,
        VAULT_TOKEN: servers.vault.token,
        TEMPORAL_TASK_QUEUE: `sandbox-aws-${randomUUID()}`,
        ROTATOR_DATA_DIR: awsDataDir,
      },
      createLogger('error', new PassThrough()),
      { awsSecretsManager: true },
    );
    const [first] = sandbox.rotations;
    const result = await first?.result();

    expect(first?.workflowId).toBe('rotate/deployer-production');
    expect(result).toMatchObject({ outcome: 'rotated' });
    const inventory = parse(readFileSync(join(awsDataDir, 'rotator.yaml'), 'utf8')) as {
      credentials: { id: string; store?: { kind: string; secretId: string; endpoint: string } }[];
    };
    const kept = inventory.credentials[0]?.store;
    expect(kept).toMatchObject({ kind: 'aws-secrets-manager', secretId: 'sandbox/deployer-production' });
    // The new token is current in Secrets Manager, the old one previous: the store, not Vault, was rotated.
    const aws = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: kept?.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const described = await aws.send(new DescribeSecretCommand({ SecretId: kept?.secretId }));
    const stages = Object.values(described.VersionIdsToStages ?? {}).flat();
    expect(stages.sort()).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
    expect(result?.versions.current).toBe(
      Object.entries(described.VersionIdsToStages ?? {}).find(([, labels]) =>
        labels.includes('AWSCURRENT'),
      )?.[0],
    );
    await Promise.allSettled(sandbox.rotations.map((handle) => handle.result()));
  });
});
