import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
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
import { httpRelay, type HttpRelay, type RelayAnswer } from '../helpers/http-relay';
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
async function seed(
  name: string,
  options: { requireApproval?: boolean; replicas?: string[]; through?: HttpRelay } = {},
) {
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
      const { replicas, through } = options;
      return {
        kind: 'aws-secrets-manager',
        region: REGION,
        secretId,
        endpoint: through?.url ?? endpoint,
        ...(replicas === undefined ? {} : { replicas }),
      };
    },
  });
  const { old, id } = credential;
  const variable = () => defined(rotation.targetValues(credential)[0]);
  const minted = () => rotation.newTokens(credential);
  return { id, old, secretId, first, variable, minted };
}

/** Secrets Manager's JSON protocol names the operation in a header: `secretsmanager.PutSecretValue`. */
const operation = (name: string) => (request: IncomingMessage) =>
  request.headers['x-amz-target'] === `secretsmanager.${name}`;
/** An error as Secrets Manager answers it (its JSON protocol: `__type` and a message, HTTP 400). */
const awsRefusal = (type: string, message: string): RelayAnswer => ({
  status: 400,
  headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type },
  body: JSON.stringify({ __type: type, message }),
});

/** The ids of every version the secret has, whatever its labels. */
async function versionIds(secretId: string): Promise<string[]> {
  const listed = await operator.send(
    new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }),
  );
  return (listed.Versions ?? []).map((version) => defined(version.VersionId));
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
/** Kept behind a relay that loses, throttles or refuses Secrets Manager's answers. */
let relay: HttpRelay;
let lost: Awaited<ReturnType<typeof seed>>;
let throttled: Awaited<ReturnType<typeof seed>>;
let denied: Awaited<ReturnType<typeof seed>>;
let adminSecret: string;
const REPLICA = 'us-east-1';
/** Listed in the inventory, never replicated to. */
const MISSING_REPLICA = 'ap-south-1';

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  clean = await seed('aws-clean');
  moved = await seed('aws-moved', { requireApproval: true });
  replicated = await seed('aws-replicated', { replicas: [REPLICA, MISSING_REPLICA] });
  relay = await httpRelay(endpoint);
  lost = await seed('aws-lost', { through: relay });
  throttled = await seed('aws-throttled', { through: relay });
  denied = await seed('aws-denied', { through: relay });
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
  await relay.close();
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

  it('finds its own stage again by the request token when the answer to PutSecretValue is lost: one new version, one new token', async () => {
    relay.loseAnswerOf(operation('PutSecretValue'));
    relay.requests.length = 0;

    const result = await rotate(lost.id);

    expect(result).toMatchObject({ outcome: 'rotated' });
    // The put reached the server twice, the second time with the same ClientRequestToken: no second version.
    expect(relay.requests.filter(({ target }) => target === 'secretsmanager.PutSecretValue')).toHaveLength(2);
    expect(await versionIds(lost.secretId)).toHaveLength(2);
    expect(lost.minted()).toHaveLength(1);
    const current = await valueAt(lost.secretId, 'AWSCURRENT');
    expect(current.data.token).toBe(defined(lost.minted()[0]).value);
    expect(lost.variable()).toBe(current.data.token);
  });

  it('waits out throttling (ThrottlingException) past the SDK’s own retries, and rotates', async () => {
    // More refusals than the SDK's three tries: the activity's own retry takes over.
    const refusals = 5;
    let refused = 0;
    relay.answerNext(
      operation('PutSecretValue'),
      () => {
        refused += 1;
        return awsRefusal('ThrottlingException', 'Rate exceeded');
      },
      refusals,
    );

    const result = await rotate(throttled.id);

    expect(result).toMatchObject({ outcome: 'rotated' });
    expect(refused).toBe(refusals);
    expect(await versionIds(throttled.secretId)).toHaveLength(2);
    expect(throttled.minted()).toHaveLength(1);
    expect((await valueAt(throttled.secretId, 'AWSCURRENT')).data.token).toBe(
      defined(throttled.minted()[0]).value,
    );
  });

  it('classes AccessDeniedException as auth: rolls back at once, revokes what it minted, and says to check the worker’s policy', async () => {
    const deniedMessage =
      'User: arn:aws:sts::123456789012:assumed-role/rotator is not authorized to perform: secretsmanager:PutSecretValue';
    let refused = 0;
    let denying = true;
    relay.answerNext(
      (request) => denying && operation('PutSecretValue')(request),
      () => {
        refused += 1;
        return awsRefusal('AccessDeniedException', deniedMessage);
      },
      Number.MAX_SAFE_INTEGER,
    );
    const handle = await startRotation(client, taskQueue, {
      credentialId: denied.id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
    });

    const failure = await handle.result().catch((error: unknown) => error);
    denying = false;
    const status = await handle.query(statusQuery);

    expect(failure).toBeInstanceOf(Error);
    expect(status.outcome).toBe('rolled-back');
    // Not retried: no retry mends a policy.
    expect(refused).toBe(1);
    expect(status.failures).toEqual([
      expect.objectContaining({
        class: 'auth',
        recovery: 'none: the store refused the worker, so roll back',
        message: expect.stringContaining(`AccessDeniedException: ${deniedMessage}`),
      }),
    ]);
    expect(status.detail).toContain('`rotator aws policy`');
    const [fresh] = denied.minted();
    expect(rotation.world.state.tokens.get(defined(fresh).id)?.revoked).toBe(true);
    expect(rotation.world.state.isActive(denied.old)).toBe(true);
    expect(denied.variable()).toBe(denied.old.value);
    expect(await versionIds(denied.secretId)).toEqual([denied.first]);
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
          Resource: [clean, moved, replicated, lost, throttled, denied]
            .map(({ secretId }) => arn(secretId))
            .sort(),
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
