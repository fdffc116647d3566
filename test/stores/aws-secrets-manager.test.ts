import { randomBytes, randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ReplicateSecretToRegionsCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import {
  awsSecretsManagerStore,
  awsStoreError,
  clientRequestToken,
  openAwsSecretsManagerStore,
  replicaProblems,
  type AwsSecretRef,
} from '../../src/stores/aws-secrets-manager';
import { StoreError } from '../../src/stores/store';
import { versionLabel } from '../../src/stores/labels';
import { freeLoopbackPort } from '../infra/dev-servers';
import { recordMintedValue } from '../infra/secret-scan';
import { testServers } from '../infra/test-servers';

/** moto checks no signature: any access key works, and none of the machine's own is needed or read. */
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const REGION = 'eu-west-1';
const { endpoint } = testServers().aws;

/** The operator's side: creating secrets and changing them behind the rotator's back. */
const operator = new SecretsManagerClient({ region: REGION, endpoint, credentials });
const store = openAwsSecretsManagerStore({ credentials });

/** A token value, recorded so that the run's secret scan searches moto's log and every history for it. */
function tokenValue(): string {
  const value = `aws-token-${randomBytes(16).toString('hex')}`;
  recordMintedValue(value);
  return value;
}

function versionIdOf(answer: { VersionId?: string }): string {
  if (answer.VersionId === undefined) throw new Error('Secrets Manager answered without a VersionId');
  return answer.VersionId;
}

async function createSecret(value: Record<string, string>): Promise<{ at: AwsSecretRef; first: string }> {
  const secretId = `rotator-test/${randomUUID()}`;
  const created = await operator.send(
    new CreateSecretCommand({ Name: secretId, SecretString: JSON.stringify(value) }),
  );
  return {
    at: { store: 'aws-secrets-manager', region: REGION, secretId, endpoint },
    first: versionIdOf(created),
  };
}

/** Which labels each version carries, as Secrets Manager itself reports it. */
async function labels(at: AwsSecretRef): Promise<Record<string, string[]>> {
  const described = await operator.send(new DescribeSecretCommand({ SecretId: at.secretId }));
  return described.VersionIdsToStages ?? {};
}

async function versionCount(at: AwsSecretRef): Promise<number> {
  const listed = await operator.send(
    new ListSecretVersionIdsCommand({ SecretId: at.secretId, IncludeDeprecated: true }),
  );
  return listed.Versions?.length ?? 0;
}

const putAsOperator = async (at: AwsSecretRef, value: Record<string, unknown>, stages?: string[]) =>
  versionIdOf(
    await operator.send(
      new PutSecretValueCommand({
        SecretId: at.secretId,
        SecretString: JSON.stringify(value),
        VersionStages: stages,
      }),
    ),
  );

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a StoreError, but the call succeeded');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(StoreError);
      return error as StoreError;
    },
  );

describe('the aws-secrets-manager store on a real Secrets Manager API (moto)', () => {
  it('reads the AWSCURRENT version, and any version by its id', async () => {
    const old = tokenValue();
    const { at, first } = await createSecret({ token: old, tokenId: 't1' });
    const value = tokenValue();
    const second = await putAsOperator(at, { token: value, tokenId: 't2', note: 'kept' });

    const current = await store.readCurrent(at);

    expect(current).toEqual({
      data: { token: value, tokenId: 't2', note: 'kept' },
      version: { ...at, version: second },
    });
    expect(await store.read({ ...at, version: first })).toEqual({ token: old, tokenId: 't1' });
    expect(versionLabel(current.version)).toBe(second);
    expect(awsSecretsManagerStore.describe(at)).toBe(`AWS Secrets Manager ${REGION} ${at.secretId}`);
  });

  it('stages as AWSPENDING with the operator fields carried over, and promotes by moving labels', async () => {
    const { at, first } = await createSecret({ token: tokenValue(), tokenId: 't1', owner: 'team-ci' });
    expect(await store.readStaged(at)).toEqual({ mark: '' });
    const value = tokenValue();

    // 0, as a Vault-minded caller says "nothing staged", means the same as ''.
    const staged = await store.stage(at, { token: value, tokenId: 't2' }, 0, 'rotation-1/stage');

    expect(staged.mark).toBe(staged.version.version);
    expect((await labels(at))[staged.version.version]).toEqual(['AWSPENDING']);
    expect(await store.readStaged(at)).toEqual({
      mark: staged.version.version,
      found: { data: { owner: 'team-ci', token: value, tokenId: 't2' }, version: staged.version },
    });

    const promoted = await store.promote(at, staged.version, { ...at, version: first });

    expect(promoted).toEqual(staged.version);
    expect(await labels(at)).toEqual({ [first]: ['AWSPREVIOUS'], [staged.version.version]: ['AWSCURRENT'] });
    expect((await store.readCurrent(at)).data).toEqual({ owner: 'team-ci', token: value, tokenId: 't2' });
    expect(await store.readStaged(at)).toEqual({ mark: '' });
  });

  it('refuses to stage when AWSPENDING moved since it was read, as a conflict', async () => {
    const { at } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    const ours = await store.stage(at, { token: tokenValue(), tokenId: 't2' }, '', 'rotation-2/stage');
    const theirs = await putAsOperator(at, { token: tokenValue(), tokenId: 'x' }, ['AWSPENDING']);
    const value = tokenValue();

    const error = await failureOf(
      store.stage(at, { token: value, tokenId: 't3' }, ours.mark, 'rotation-3/stage'),
    );

    expect(error.failure).toBe('conflict');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(`AWSPENDING is on version ${theirs}, not ${ours.mark}`);
    expect(error.message).not.toContain(value);
    expect((await store.readStaged(at)).mark).toBe(theirs);
  });

  it('makes no second version when a stage is tried again with the same request key', async () => {
    const { at } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    const data = { token: tokenValue(), tokenId: 't2' };

    const first = await store.stage(at, data, '', 'rotation-4/stage');
    const again = await store.stage(at, data, '', 'rotation-4/stage');

    expect(again).toEqual(first);
    expect(first.mark).toBe(clientRequestToken('rotation-4/stage'));
    expect(first.mark).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await versionCount(at)).toBe(2);
    // Another write is another version.
    await store.stage(at, data, first.mark, 'rotation-5/stage');
    expect(await versionCount(at)).toBe(3);
  });

  it('refuses to promote when someone else moved AWSCURRENT, and keeps their value', async () => {
    const { at, first } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    const staged = await store.stage(at, { token: tokenValue(), tokenId: 't2' }, '', 'rotation-6/stage');
    const theirValue = tokenValue();
    const theirs = await putAsOperator(at, { token: theirValue, tokenId: 'manual' });

    const error = await failureOf(store.promote(at, staged.version, { ...at, version: first }));

    expect(error.failure).toBe('conflict');
    expect(error.message).toBe(
      `AWS Secrets Manager ${REGION} ${at.secretId}: AWSCURRENT is on version ${theirs}, neither the staged ` +
        `${staged.version.version} nor the replaced ${first}: someone else changed it`,
    );
    expect(await store.readCurrent(at)).toEqual({
      data: { token: theirValue, tokenId: 'manual' },
      version: { ...at, version: theirs },
    });
  });

  it('finds its own promote in place when it is tried again, and returns the same version', async () => {
    const { at, first } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    const staged = await store.stage(at, { token: tokenValue(), tokenId: 't2' }, '', 'rotation-7/stage');
    const replacing = { ...at, version: first };
    await store.promote(at, staged.version, replacing);
    const after = await labels(at);

    expect(await store.promote(at, staged.version, replacing)).toEqual(staged.version);
    expect(await labels(at)).toEqual(after);
    expect(await versionCount(at)).toBe(2);
  });

  it('amends the current version as a new one that AWSCURRENT moves onto, and reads the one before', async () => {
    const value = tokenValue();
    const { at, first } = await createSecret({ token: value, tokenId: 't1', owner: 'team-ci' });
    expect(await store.readPrevious({ ...at, version: first })).toBeUndefined();

    const amended = await store.amend({ ...at, version: first }, { tokenFingerprint: 'sha256:v1:00' });

    expect(await labels(at)).toEqual({ [first]: ['AWSPREVIOUS'], [amended.version]: ['AWSCURRENT'] });
    expect(await store.readCurrent(at)).toEqual({
      data: { token: value, tokenId: 't1', owner: 'team-ci', tokenFingerprint: 'sha256:v1:00' },
      version: amended,
    });
    expect(await store.readPrevious(amended)).toEqual({
      data: { token: value, tokenId: 't1', owner: 'team-ci' },
      version: { ...at, version: first },
    });
  });

  it('refuses to amend a version that is no longer current, as a conflict, and keeps their value', async () => {
    const { at, first } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    const theirs = await putAsOperator(at, { token: tokenValue(), tokenId: 'manual' });

    const error = await failureOf(
      store.amend({ ...at, version: first }, { tokenFingerprint: 'sha256:v1:00' }),
    );

    expect(error.failure).toBe('conflict');
    expect(error.message).toBe(
      `AWS Secrets Manager ${REGION} ${at.secretId}: AWSCURRENT is on version ${theirs}, not ${first} as read: ` +
        'someone else changed it, so it is not overwritten',
    );
    expect(await labels(at)).toEqual({ [first]: ['AWSPREVIOUS'], [theirs]: ['AWSCURRENT'] });
  });

  it('undoes a promote only while the current version is the one it promoted', async () => {
    const { at, first } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    const previous = { ...at, version: first };
    const staged = await store.stage(at, { token: tokenValue(), tokenId: 't2' }, '', 'rotation-8/stage');
    await store.promote(at, staged.version, previous);

    expect(await store.rePromote(at, previous, 'someone-elses-token-id')).toEqual(staged.version);
    expect((await store.readCurrent(at)).version).toEqual(staged.version);

    expect(await store.rePromote(at, previous, 't2')).toEqual(previous);
    expect((await store.readCurrent(at)).version).toEqual(previous);
    expect((await labels(at))[staged.version.version]).toEqual(['AWSPREVIOUS']);
  });

  it('says when each version was written, from its metadata', async () => {
    const before = Date.now();
    const { at, first } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    const staged = await store.stage(at, { token: tokenValue(), tokenId: 't2' }, '', 'rotation-9/stage');

    const written = [await store.writtenAt({ ...at, version: first }), await store.writtenAt(staged.version)];

    // moto 5.2.5 lists every version as created "now" (Secrets Manager lists the real date), so this can
    // check only that the date is ListSecretVersionIds' own, in whole seconds, and within the test.
    for (const date of written) {
      expect(date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(Date.parse(date)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(Date.parse(date)).toBeLessThanOrEqual(Date.now());
    }
    await expect(store.writtenAt({ ...at, version: randomUUID() })).rejects.toMatchObject({
      failure: 'not-found',
      message: expect.stringContaining(`has no version`),
    });
  });

  it('is usable only for a secret that exists, has a current value and is not being deleted', async () => {
    const { at } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    await expect(store.assertUsable(at)).resolves.toBeUndefined();

    const missing = { ...at, secretId: `rotator-test/${randomUUID()}` };
    const notFound = await failureOf(store.assertUsable(missing));
    expect(notFound.failure).toBe('not-found');
    expect(notFound.message).toMatch(
      new RegExp(
        `^AWS Secrets Manager DescribeSecret ${REGION} ${missing.secretId} failed: ResourceNotFoundException: .*the rotator never creates it$`,
      ),
    );

    const empty = { ...at, secretId: `rotator-test/${randomUUID()}` };
    await operator.send(new CreateSecretCommand({ Name: empty.secretId }));
    await expect(store.assertUsable(empty)).rejects.toMatchObject({
      failure: 'refused',
      message: `AWS Secrets Manager ${REGION} ${empty.secretId} has no AWSCURRENT version: put its first value (aws secretsmanager put-secret-value)`,
    });

    await operator.send(new DeleteSecretCommand({ SecretId: at.secretId, RecoveryWindowInDays: 7 }));
    const deleted = await failureOf(store.assertUsable(at));
    expect(deleted.failure).toBe('refused');
    expect(deleted.message).toMatch(
      new RegExp(`^AWS Secrets Manager ${REGION} ${at.secretId} is scheduled for deletion on .*: restore it`),
    );
  });

  it('reports replicas and names one the inventory lists that is missing or not in sync', async () => {
    const { at } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    await operator.send(
      new ReplicateSecretToRegionsCommand({
        SecretId: at.secretId,
        AddReplicaRegions: [{ Region: 'eu-central-1' }],
      }),
    );
    const listed = { ...at, replicas: ['eu-central-1', 'us-east-2'] };

    const statuses = await store.replicaStatus(listed);

    expect(statuses).toEqual([expect.objectContaining({ region: 'eu-central-1', status: 'InSync' })]);
    expect(replicaProblems(listed, statuses)).toEqual([
      `AWS Secrets Manager ${REGION} ${at.secretId} has no replica in us-east-2: replicate it there ` +
        '(aws secretsmanager replicate-secret-to-regions), or drop the region from the inventory',
    ]);
    expect(
      replicaProblems(listed, [
        { region: 'eu-central-1', status: 'Failed', message: 'KMS key missing' },
        { region: 'us-east-2', status: 'InSync' },
      ]),
    ).toEqual([
      `AWS Secrets Manager ${REGION} ${at.secretId}'s replica in eu-central-1 is Failed: KMS key missing`,
    ]);
  });

  it('refuses a value that is not a JSON object of string fields, naming the version, never the value', async () => {
    const value = tokenValue();
    const secretId = `rotator-test/${randomUUID()}`;
    const created = await operator.send(
      new CreateSecretCommand({ Name: secretId, SecretString: `token=${value}` }),
    );
    const at: AwsSecretRef = { store: 'aws-secrets-manager', region: REGION, secretId, endpoint };
    const numbers = await putAsOperator(at, { token: value, expiresAt: 5 } as unknown as Record<
      string,
      string
    >);

    const notJson = await failureOf(store.read({ ...at, version: versionIdOf(created) }));
    const notStrings = await failureOf(store.readCurrent(at));

    expect(notJson).toMatchObject({ failure: 'refused', retryable: false });
    expect(notJson.message).toBe(
      `AWS Secrets Manager ${REGION} ${secretId} version ${created.VersionId} is not JSON: ` +
        'the rotator keeps a JSON object of string fields there',
    );
    expect(notStrings.message).toContain(`version ${numbers} is not an object of string fields (expiresAt: `);
    for (const error of [notJson, notStrings])
      expect(JSON.stringify({ ...error, message: error.message })).not.toContain(value);
  });

  it('says a secret that does not exist is not found, and creates none when staging', async () => {
    const at: AwsSecretRef = {
      store: 'aws-secrets-manager',
      region: REGION,
      secretId: `rotator-test/${randomUUID()}`,
      endpoint,
    };
    const value = tokenValue();

    const error = await failureOf(store.stage(at, { token: value, tokenId: 't1' }, '', 'rotation-10/stage'));

    expect(error).toMatchObject({ failure: 'not-found', retryable: false });
    expect(error.message).toMatch(
      /^AWS Secrets Manager DescribeSecret eu-west-1 rotator-test\/.* failed: ResourceNotFoundException: /,
    );
    expect(error.message).not.toContain(value);
    expect(error).not.toHaveProperty('$response');
    expect(error).not.toHaveProperty('cause');
    await expect(store.readCurrent(at)).rejects.toMatchObject({ failure: 'not-found' });
  });

  it("maps the service's own errors: a label not where it was is a conflict, a deleted secret is refused", async () => {
    const { at, first } = await createSecret({ token: tokenValue(), tokenId: 't1' });
    const second = await putAsOperator(at, { token: tokenValue(), tokenId: 't2' }, ['AWSPENDING']);
    // The replaced version no longer carries AWSCURRENT, as when someone promoted in between.
    await putAsOperator(at, { token: tokenValue(), tokenId: 'manual' });
    const moved = await operator
      .send(
        new UpdateSecretVersionStageCommand({
          SecretId: at.secretId,
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: second,
          RemoveFromVersionId: first,
        }),
      )
      .catch((error: unknown) => error);
    await operator.send(new DeleteSecretCommand({ SecretId: at.secretId, RecoveryWindowInDays: 7 }));
    const deleted = await operator
      .send(new GetSecretValueCommand({ SecretId: at.secretId }))
      .catch((error: unknown) => error);

    const conflict = awsStoreError('UpdateSecretVersionStage', at, moved, true);

    expect(conflict).toMatchObject({ failure: 'conflict', status: 400, retryable: false });
    expect(conflict.message).toMatch(
      new RegExp(
        `^AWS Secrets Manager UpdateSecretVersionStage ${REGION} ${at.secretId} failed: \\w+Exception: `,
      ),
    );
    expect(conflict).not.toHaveProperty('$response');
    expect(conflict).not.toHaveProperty('cause');
    expect(awsStoreError('GetSecretValue', at, moved)).toMatchObject({ failure: 'refused' });
    expect(awsStoreError('UpdateSecretVersionStage', at, deleted, true)).toMatchObject({
      failure: 'refused',
    });
  });

  it('reports an endpoint nothing answers on as unavailable, to be tried again', async () => {
    const closed = `http://127.0.0.1:${await freeLoopbackPort()}`;
    const value = tokenValue();
    const at: AwsSecretRef = {
      store: 'aws-secrets-manager',
      region: REGION,
      secretId: 'rotator-test/unreachable',
      endpoint: closed,
    };

    const error = await failureOf(store.stage(at, { token: value }, '', 'rotation-11/stage'));

    expect(error).toMatchObject({ failure: 'unavailable', retryable: true, status: undefined });
    expect(error.message).toMatch(
      /^AWS Secrets Manager DescribeSecret eu-west-1 rotator-test\/unreachable failed: .*ECONNREFUSED/,
    );
    expect(error.message).not.toContain(value);
  });
});

describe('the aws-secrets-manager store definition', () => {
  it('takes an inventory entry without secrets, and owns only its own references', () => {
    const parsed = awsSecretsManagerStore.entry.parse({
      kind: 'aws-secrets-manager',
      region: 'us-gov-west-1',
      secretId: 'arn:aws:secretsmanager:us-gov-west-1:123456789012:secret:ci/deployer-AbCdEf',
      replicas: ['us-gov-east-1'],
    });
    const ref = awsSecretsManagerStore.refOf(parsed);

    expect(ref).toEqual({
      store: 'aws-secrets-manager',
      region: 'us-gov-west-1',
      secretId: 'arn:aws:secretsmanager:us-gov-west-1:123456789012:secret:ci/deployer-AbCdEf',
      replicas: ['us-gov-east-1'],
    });
    expect(awsSecretsManagerStore.ref.parse(ref)).toEqual(ref);
    for (const endpoint of ['https://vpce.example.com', 'http://127.0.0.1:5000', 'http://localhost:5000'])
      expect(awsSecretsManagerStore.entry.safeParse({ ...parsed, endpoint }).success).toBe(true);
    expect(awsSecretsManagerStore.owns(ref)).toBe(true);
    expect(awsSecretsManagerStore.owns({ mount: 'kv', path: 'ci/deployer', version: 3 })).toBe(false);
    for (const wrong of [
      { kind: 'aws-secrets-manager', region: 'Europe', secretId: 'x' },
      { kind: 'aws-secrets-manager', region: 'eu-west-1', secretId: '' },
      { kind: 'aws-secrets-manager', region: 'eu-west-1', secretId: 'x', secretString: 'no' },
      { kind: 'aws-secrets-manager', region: 'eu-west-1', secretId: 'x', endpoint: 'not a url' },
      {
        kind: 'aws-secrets-manager',
        region: 'eu-west-1',
        secretId: 'x',
        endpoint: 'http://vpce.example.com',
      },
    ])
      expect(awsSecretsManagerStore.entry.safeParse(wrong).success).toBe(false);
  });
});
