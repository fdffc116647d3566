import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
  PutSecretValueCommand,
  ReplicateSecretToRegionsCommand,
} from '@aws-sdk/client-secrets-manager';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { startRotation } from '../../src/rotations';
import { createActivities } from '../../activities';
import { runCli } from '../../src/cli';
import { fingerprintOf } from '../../src/fingerprint';
import { openStores } from '../../src/stores';
import { VaultKvStore } from '../../src/vault';
import { approve } from '../../workflows';
import { statusQuery } from '../../workflows/status';
import { defined } from '../gitlab/world';
import { noAudit } from '../helpers/audit';
import { rotationWorld, until, type RotationWorld } from '../helpers/rotation';
import { signedApproval } from '../helpers/ssh';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

/** moto checks no signature: any access key works, and none of the machine's own is read. */
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const REGION = 'eu-west-1';
const servers = testServers();
const { endpoint } = servers.aws;
const vault = new VaultKvStore(servers.vault);
const operator = new SecretsManagerClient({ region: REGION, endpoint, credentials });
const taskQueue = `aws-${randomUUID()}`;

let rotation: RotationWorld;
let worker: TestWorker;
let client: Client;

/** A project token of the simulator, current in a Secrets Manager secret (beside a field of the operator's) and in a CI variable. */
async function seed(name: string, options: { requireApproval?: boolean; replicas?: string[] } = {}) {
  let secretId = '';
  let first = '';
  const credential = await rotation.seed(name, {
    ...options,
    keepIn: async (value, id) => {
      secretId = `rotator-e2e/${id}`;
      const created = await operator.send(
        new CreateSecretCommand({
          Name: secretId,
          SecretString: JSON.stringify({ ...value, owner: 'team-ci' }),
        }),
      );
      first = defined(created.VersionId);
      const { replicas } = options;
      return {
        kind: 'aws-secrets-manager',
        region: REGION,
        secretId,
        endpoint,
        ...(replicas === undefined ? {} : { replicas }),
      };
    },
  });
  const { old, id } = credential;
  const variable = () => defined(rotation.targetValues(credential)[0]);
  const minted = () => rotation.newTokens(credential);
  return { id, old, secretId, first, variable, minted };
}

const valueSchema = z.record(z.string(), z.string());
/** The secret's fields at a stage, read as an operator would. */
async function valueAt(secretId: string, stage: string) {
  const answer = await operator.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
  return { versionId: answer.VersionId, data: valueSchema.parse(JSON.parse(answer.SecretString ?? '')) };
}

async function rotate(credentialId: string) {
  const handle = await startRotation(client, taskQueue, {
    credentialId,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
  return handle.result();
}

let clean: Awaited<ReturnType<typeof seed>>;
let moved: Awaited<ReturnType<typeof seed>>;
let replicated: Awaited<ReturnType<typeof seed>>;
let adminSecret: string;
const REPLICA = 'us-east-1';
/** Listed in the inventory, never replicated to. */
const MISSING_REPLICA = 'ap-south-1';

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  clean = await seed('aws-clean');
  moved = await seed('aws-moved', { requireApproval: true });
  replicated = await seed('aws-replicated', { replicas: [REPLICA, MISSING_REPLICA] });
  await operator.send(
    new ReplicateSecretToRegionsCommand({
      SecretId: replicated.secretId,
      AddReplicaRegions: [{ Region: REPLICA }],
    }),
  );
  // The provider's admin token is kept in Secrets Manager too, not in Vault.
  adminSecret = `rotator-e2e/${rotation.credentialId('admin')}`;
  await operator.send(
    new CreateSecretCommand({
      Name: adminSecret,
      SecretString: JSON.stringify({ token: rotation.world.adminToken.value }),
    }),
  );
  rotation.writeInventory({
    adminCredential: {
      store: { kind: 'aws-secrets-manager', region: REGION, secretId: adminSecret, endpoint },
      key: 'token',
    },
  });
  worker = await rotation.startWorker(taskQueue, {
    stores: openStores({ vault, aws: { credentials } }),
  });
  client = worker.client;
});

afterAll(async () => {
  await worker.stop();
  await rotation.close();
});

describe('a rotation whose credential and admin token are kept in AWS Secrets Manager (moto), with the GitLab simulator', () => {
  it('stages the new token as AWSPENDING, promotes it to AWSCURRENT with the old one AWSPREVIOUS, and keeps the operator’s fields', async () => {
    const result = await rotate(clean.id);

    expect(result).toMatchObject({ outcome: 'rotated' });
    const [fresh] = clean.minted();
    const current = await valueAt(clean.secretId, 'AWSCURRENT');
    expect(current.data).toEqual({
      token: defined(fresh).value,
      tokenFingerprint: fingerprintOf(defined(fresh).value),
      tokenId: String(defined(fresh).id),
      expiresAt: defined(fresh).expiresAt,
      owner: 'team-ci',
    });
    expect((await valueAt(clean.secretId, 'AWSPREVIOUS')).versionId).toBe(clean.first);
    expect(result.versions).toEqual({
      current: current.versionId,
      previous: clean.first,
      staged: current.versionId,
    });
    expect(clean.variable()).toBe(defined(fresh).value);
    expect(rotation.world.state.tokens.get(clean.old.id)?.revoked).toBe(true);
    const described = await operator.send(new DescribeSecretCommand({ SecretId: clean.secretId }));
    // Nothing is left pending once the new version is current.
    expect(Object.values(described.VersionIdsToStages ?? {}).flat()).not.toContain('AWSPENDING');
  });

  it('refuses to promote over a version someone else made current meanwhile, and rolls back without overwriting it', async () => {
    const handle = await startRotation(client, taskQueue, {
      credentialId: moved.id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
    });
    await until(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval');
    // While the rotation waits for approval, after detect read the current version, an operator writes a new one.
    const theirs = await operator.send(
      new PutSecretValueCommand({
        SecretId: moved.secretId,
        SecretString: JSON.stringify({
          token: moved.old.value,
          tokenId: String(moved.old.id),
          note: 'by hand',
        }),
      }),
    );
    await handle.executeUpdate(approve, {
      args: [
        await signedApproval(handle, rotation.approvers.bob, 'bob', {
          credentialId: moved.id,
          requestedBy: 'alice',
        }),
      ],
    });
    const result = await handle.result().catch(() => handle.query(statusQuery));

    expect(result).toMatchObject({ outcome: 'rolled-back' });
    expect(result.failures).toEqual([expect.objectContaining({ step: 'promote', class: 'conflict' })]);
    // The operator's version stays current; the new token is revoked, and the old one lives on in the target.
    expect((await valueAt(moved.secretId, 'AWSCURRENT')).versionId).toBe(theirs.VersionId);
    const [fresh] = moved.minted();
    expect(rotation.world.state.tokens.get(defined(fresh).id)?.revoked).toBe(true);
    expect(rotation.world.state.isActive(moved.old)).toBe(true);
    expect(moved.variable()).toBe(moved.old.value);
  });

  it('rotates a replicated secret, and alerts on a replica the inventory lists that is not in sync; the health check sees it too', async () => {
    const result = await rotate(replicated.id);

    expect(result).toMatchObject({ outcome: 'rotated' });
    const missing = `AWS Secrets Manager ${REGION} ${replicated.secretId} has no replica in ${MISSING_REPLICA}`;
    expect(result.alerts).toEqual([expect.stringContaining(missing)]);
    expect(result.alerts.join()).not.toContain(REPLICA);

    const activities = createActivities({
      vault,
      stores: openStores({ vault, aws: { credentials } }),
      inventoryPath: rotation.inventoryPath,
      audit: noAudit,
    });
    const current = await activities.readCurrentVersion({
      store: {
        store: 'aws-secrets-manager',
        region: REGION,
        secretId: replicated.secretId,
        endpoint,
        replicas: [REPLICA, MISSING_REPLICA],
      },
    });
    expect(current.replicaProblems).toEqual([expect.stringContaining(missing)]);
  });

  it('`rotator aws policy` grants the rotation’s actions on each credential’s secret, and reading only on the admin token’s', async () => {
    let stdout = '';
    let stderr = '';
    const io = { stdout: (text: string) => (stdout += text), stderr: (text: string) => (stderr += text) };
    const code = await runCli(['aws', 'policy', rotation.inventoryPath, '--account', '123456789012'], io, {});

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const arn = (secretId: string) =>
      `arn:aws:secretsmanager:${REGION}:123456789012:secret:${secretId}-??????`;
    expect(JSON.parse(stdout)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'RotateCredentials',
          Effect: 'Allow',
          Action: [
            'secretsmanager:DescribeSecret',
            'secretsmanager:GetSecretValue',
            'secretsmanager:ListSecretVersionIds',
            'secretsmanager:PutSecretValue',
            'secretsmanager:UpdateSecretVersionStage',
          ],
          Resource: [clean.secretId, moved.secretId, replicated.secretId].map(arn).sort(),
        },
        {
          Sid: 'ReadAdminSecrets',
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue'],
          Resource: [arn(adminSecret)],
        },
      ],
    });
    const refused = await runCli(['aws', 'policy', rotation.inventoryPath, '--account', '12'], io, {});
    expect(refused).toBe(2);
    expect(stderr).toContain('--account');
  });
});
