import { createHash } from 'node:crypto';
import type { SecretsManagerClient, SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { awsSecretsManager } from '../on-first-use';
import { ROTATED_FIELDS } from '../stored-secret';
import { formatIssues } from '../validation';
import { defineStore, StoreError, type CredentialStore, type SecretData, type StoreFailure } from './store';

const KIND = 'aws-secrets-manager';

/** Secrets Manager's own staging labels, which its rotation functions move as this store does. */
const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';
const PREVIOUS = 'AWSPREVIOUS';
/** Holds an amended version from its write until `AWSCURRENT` moves onto it, which is the check-and-set. */
const AMENDING = 'ROTATOR-AMENDING';

const region = z
  .string()
  .regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'expected an AWS region such as eu-west-1 or us-gov-west-1');
const secretId = z.string().min(1).max(2048);
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
/** Plain http would carry every value in the clear, so it is for a server on this machine only (moto). */
const endpoint = z.url({ protocol: /^https?$/ }).refine(
  // Zod runs the refinement also when the URL check failed: such a URL is reported once, by that check.
  (url) =>
    !URL.canParse(url) || new URL(url).protocol === 'https:' || LOOPBACK_HOSTS.has(new URL(url).hostname),
  'expected an https URL: plain http only on loopback (localhost, 127.0.0.1, [::1])',
);
const replicas = z.array(region);
/** A VersionId is a ClientRequestToken: 32 to 64 characters, a UUID when Secrets Manager picks it. */
const versionId = z.string().min(32).max(64);

/**
 * The inventory's entry for a credential kept in AWS Secrets Manager. It names the secret, never a secret:
 * the worker's AWS credentials come from the SDK's provider chain (environment, shared config, web
 * identity, instance or container role).
 */
const entry = z.strictObject({
  kind: z.literal(KIND),
  region,
  /** The secret's name or ARN. The operator creates it; the rotator never does. */
  secretId,
  /** Another Secrets Manager API endpoint: a VPC endpoint's, or moto's in tests. */
  endpoint: endpoint.optional(),
  /** Regions the secret is replicated to, checked by `replicaStatus`. */
  replicas: replicas.optional(),
});

const ref = z.strictObject({
  store: z.literal(KIND),
  region,
  secretId,
  endpoint: endpoint.optional(),
  replicas: replicas.optional(),
});
const version = ref.extend({ version: versionId }).strict();

export type AwsSecretRef = z.infer<typeof ref>;
export type AwsSecretVersion = z.infer<typeof version>;

export interface AwsSecretsManagerSettings {
  /** The SDK's default provider chain when absent; tests give static dummy credentials. */
  credentials?: SecretsManagerClientConfig['credentials'];
}

/** One replica region of a secret as DescribeSecret reports it (Status: InSync, InProgress or Failed). */
export interface ReplicaStatus {
  region: string;
  status: string;
  message?: string;
}

export interface AwsSecretsManagerStore extends CredentialStore<AwsSecretRef, AwsSecretVersion> {
  /** The replicas of the secret and how far each has got, from metadata: no value is read. */
  replicaStatus(at: AwsSecretRef): Promise<ReplicaStatus[]>;
}

const describeAwsSecret = (at: AwsSecretRef) => `AWS Secrets Manager ${at.region} ${at.secretId}`;

/** What is wrong with the replicas `at.replicas` lists, each naming its region: missing or not in sync. */
export function replicaProblems(at: AwsSecretRef, statuses: readonly ReplicaStatus[]): string[] {
  return (at.replicas ?? []).flatMap((wanted) => {
    const found = statuses.find((status) => status.region === wanted);
    if (found === undefined)
      return [
        `${describeAwsSecret(at)} has no replica in ${wanted}: replicate it there ` +
          '(aws secretsmanager replicate-secret-to-regions), or drop the region from the inventory',
      ];
    if (found.status !== 'InSync')
      return [
        `${describeAwsSecret(at)}'s replica in ${wanted} is ${found.status}` +
          (found.message ? `: ${cut(found.message)}` : ''),
      ];
    return [];
  });
}

/**
 * The ClientRequestToken for a write: a UUID (version 5 layout) from the SHA-256 of its request key, so a
 * write tried again after a lost answer carries the same token, and Secrets Manager makes no second version.
 */
export function clientRequestToken(requestKey: string): string {
  const bytes = createHash('sha256').update(requestKey).digest().subarray(0, 16);
  bytes.writeUInt8((bytes.readUInt8(6) & 0x0f) | 0x50, 6);
  bytes.writeUInt8((bytes.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A StoreError naming this store as the system that failed, as status and alerts show it. */
const awsError = (message: string, failure: StoreFailure, status?: number) =>
  new StoreError(message, failure, status, 'aws-secrets-manager');

const MESSAGE_LIMIT = 300;
const cut = (text: string) => (text.length > MESSAGE_LIMIT ? `${text.slice(0, MESSAGE_LIMIT)}…` : text);

/** Error names that mean "later, perhaps": the service fails or throttles. */
const UNAVAILABLE_NAMES = new Set([
  'InternalServiceError',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

/**
 * Error names that say the worker's identity or its policy is refused (the policy `rotator aws policy`
 * prints, or expired credentials): no retry helps until the operator fixes them.
 */
const DENIED_NAMES = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);

/**
 * Where a secret's labels are moved, these say a label is not where the call said it was (Secrets Manager:
 * "Version stage AWSCURRENT not found in version ..."): someone moved it since it was read. The same names
 * also say the secret is marked for deletion, which no retry fixes.
 */
const LABEL_MOVED_NAMES = new Set(['InvalidRequestException', 'InvalidParameterException']);
const MARKED_FOR_DELETION = /deleted|deletion/i;

/**
 * A fresh StoreError for a failed SDK call: the SDK's error carries the request and the raw response,
 * which can hold the value, so nothing of it is kept but its name, status and message. `movesLabel` says
 * the call moved a staging label, where an invalid request means someone else moved it first.
 */
export function awsStoreError(
  operation: string,
  at: AwsSecretRef,
  error: unknown,
  movesLabel = false,
): StoreError {
  if (error instanceof StoreError) return error;
  if (error instanceof awsSecretsManager().SecretsManagerServiceException) {
    const status = error.$metadata.httpStatusCode;
    const failure: StoreFailure =
      error.name === 'ResourceNotFoundException'
        ? 'not-found'
        : UNAVAILABLE_NAMES.has(error.name) || error.$fault === 'server' || status === 429
          ? 'unavailable'
          : DENIED_NAMES.has(error.name)
            ? 'denied'
            : movesLabel && LABEL_MOVED_NAMES.has(error.name) && !MARKED_FOR_DELETION.test(error.message)
              ? 'conflict'
              : 'refused';
    return awsError(
      `AWS Secrets Manager ${operation} ${at.region} ${at.secretId} failed: ${error.name}: ${cut(error.message)}`,
      failure,
      status,
    );
  }
  const { name, message } = error as { name?: string; message?: string };
  // Without credentials no call can be made: trying again does not help until the operator fixes them.
  // Anything else outside the service's own answers is the network: Node's message names the system error
  // (connect ECONNREFUSED 127.0.0.1:443) and holds nothing of the request.
  const failure: StoreFailure = name === 'CredentialsProviderError' ? 'denied' : 'unavailable';
  const reason = cut(message ?? '');
  return awsError(
    `AWS Secrets Manager ${operation} ${at.region} ${at.secretId} failed: ${name ?? 'Error'}: ` +
      (failure === 'unavailable' ? `could not be reached (${reason})` : reason),
    failure,
  );
}

const secretValueAnswer = z.object({ VersionId: versionId, SecretString: z.string().optional() });
const describeAnswer = z.object({
  DeletedDate: z.date().optional(),
  VersionIdsToStages: z.record(z.string(), z.array(z.string())).optional(),
  ReplicationStatus: z
    .array(z.object({ Region: z.string(), Status: z.string(), StatusMessage: z.string().optional() }))
    .optional(),
});
const versionsAnswer = z.object({
  Versions: z.array(z.object({ VersionId: versionId, CreatedDate: z.date().optional() })).optional(),
  NextToken: z.string().optional(),
});
const putAnswer = z.object({ VersionId: versionId });
const fields = z.record(z.string(), z.string());

type Described = z.infer<typeof describeAnswer>;

/** The version a staging label is on, if any. */
const labelledWith = (described: Described, label: string): string | undefined =>
  Object.entries(described.VersionIdsToStages ?? {}).find(([, labels]) => labels.includes(label))?.[0];

/** The fields of a version's value, which must be a JSON object of strings; the message never has the value. */
function parseFields(at: AwsSecretRef, id: string, secretString: string | undefined): SecretData {
  const whose = `${describeAwsSecret(at)} version ${id}`;
  const refuse = (why: string) =>
    awsError(`${whose} ${why}: the rotator keeps a JSON object of string fields there`, 'refused');
  if (secretString === undefined) throw refuse('holds a binary value (SecretBinary)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    // JSON.parse's message quotes the text it failed on, which is the value.
    throw refuse('is not JSON');
  }
  const result = fields.safeParse(parsed);
  if (!result.success)
    throw refuse(`is not an object of string fields (${formatIssues(result.error).join('; ')})`);
  return result.data;
}

/** Answers are checked like any other input from outside; a surprise names the operation, never a value. */
function checked<S extends z.ZodType>(schema: S, answer: unknown, operation: string, at: AwsSecretRef) {
  const result = schema.safeParse(answer);
  if (!result.success)
    throw awsError(
      `AWS Secrets Manager ${operation} ${at.region} ${at.secretId} answered unexpectedly: ` +
        formatIssues(result.error).join('; '),
      'refused',
    );
  return result.data as z.output<S>;
}

export function openAwsSecretsManagerStore(settings: AwsSecretsManagerSettings = {}): AwsSecretsManagerStore {
  const {
    DescribeSecretCommand,
    GetSecretValueCommand,
    ListSecretVersionIdsCommand,
    PutSecretValueCommand,
    SecretsManagerClient,
    UpdateSecretVersionStageCommand,
  } = awsSecretsManager();
  const clients = new Map<string, SecretsManagerClient>();
  const clientFor = (at: AwsSecretRef) => {
    const key = `${at.region} ${at.endpoint ?? ''}`;
    let client = clients.get(key);
    if (client === undefined) {
      client = new SecretsManagerClient({
        region: at.region,
        ...(at.endpoint === undefined ? {} : { endpoint: at.endpoint }),
        ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
      });
      clients.set(key, client);
    }
    return client;
  };

  /** Sends one command, turning any failure into a StoreError. */
  async function call<Output>(
    operation: string,
    at: AwsSecretRef,
    send: (client: SecretsManagerClient) => Promise<Output>,
    movesLabel = false,
  ): Promise<Output> {
    try {
      return await send(clientFor(at));
    } catch (error) {
      throw awsStoreError(operation, at, error, movesLabel);
    }
  }

  const versionOf = (at: AwsSecretRef, id: string): AwsSecretVersion => ({ ...refOf(at), version: id });

  const describeSecret = async (at: AwsSecretRef) =>
    checked(
      describeAnswer,
      await call('DescribeSecret', at, (client) =>
        client.send(new DescribeSecretCommand({ SecretId: at.secretId })),
      ),
      'DescribeSecret',
      at,
    );

  async function getValue(at: AwsSecretRef, which: { VersionId: string } | { VersionStage: string }) {
    const answer = checked(
      secretValueAnswer,
      await call('GetSecretValue', at, (client) =>
        client.send(new GetSecretValueCommand({ SecretId: at.secretId, ...which })),
      ),
      'GetSecretValue',
      at,
    );
    return {
      data: parseFields(at, answer.VersionId, answer.SecretString),
      version: versionOf(at, answer.VersionId),
    };
  }

  const moveLabel = (at: AwsSecretRef, label: string, move: { to?: string; from?: string }) =>
    call(
      'UpdateSecretVersionStage',
      at,
      (client) =>
        client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: at.secretId,
            VersionStage: label,
            MoveToVersionId: move.to,
            RemoveFromVersionId: move.from,
          }),
        ),
      true,
    );

  const readCurrent = (at: AwsSecretRef) => getValue(at, { VersionStage: CURRENT });

  return {
    async assertUsable(at) {
      let described: Described;
      try {
        described = await describeSecret(at);
      } catch (error) {
        if (error instanceof StoreError && error.failure === 'not-found')
          throw awsError(
            `${error.message.replace(/\.?$/, '.')} Create the secret with its first value: the rotator never creates it`,
            'not-found',
            error.status,
          );
        throw error;
      }
      if (described.DeletedDate !== undefined)
        throw awsError(
          `${describeAwsSecret(at)} is scheduled for deletion on ${described.DeletedDate.toISOString()}: ` +
            'restore it (aws secretsmanager restore-secret) or name another secret in the inventory',
          'refused',
        );
      if (labelledWith(described, CURRENT) === undefined)
        throw awsError(
          `${describeAwsSecret(at)} has no ${CURRENT} version: put its first value (aws secretsmanager put-secret-value)`,
          'refused',
        );
    },

    readCurrent,

    async read(v) {
      return (await getValue(v, { VersionId: v.version })).data;
    },

    async readStaged(at) {
      const pending = labelledWith(await describeSecret(at), PENDING);
      if (pending === undefined) return { mark: '' };
      return { mark: pending, found: await getValue(at, { VersionId: pending }) };
    },

    async stage(at, data, after, requestKey) {
      const token = clientRequestToken(requestKey);
      const described = await describeSecret(at);
      const pending = labelledWith(described, PENDING) ?? '';
      // Our own write, whose answer was lost: it is in place already.
      if (pending === token) return { version: versionOf(at, token), mark: token };
      // 0 and '' both say nothing is staged.
      if (pending !== (after || ''))
        throw awsError(
          `${describeAwsSecret(at)}: ${PENDING} is on version ${pending || '(none)'}, not ${after || '(none)'} ` +
            'as expected: someone else staged a version',
          'conflict',
        );
      // Promote only moves labels here, so the staged value must already hold the operator's own fields.
      const current = labelledWith(described, CURRENT);
      const kept =
        current === undefined
          ? {}
          : Object.fromEntries(
              Object.entries((await getValue(at, { VersionId: current })).data).filter(
                ([field]) => !ROTATED_FIELDS.includes(field),
              ),
            );
      const answer = await call('PutSecretValue', at, (client) =>
        client.send(
          new PutSecretValueCommand({
            SecretId: at.secretId,
            SecretString: JSON.stringify({ ...kept, ...data }),
            VersionStages: [PENDING],
            ClientRequestToken: token,
          }),
        ),
      );
      const id = checked(putAnswer, answer, 'PutSecretValue', at).VersionId;
      return { version: versionOf(at, id), mark: id };
    },

    async promote(at, staged, replacing) {
      const described = await describeSecret(at);
      const current = labelledWith(described, CURRENT);
      if (current !== staged.version) {
        if (current !== replacing.version)
          throw awsError(
            `${describeAwsSecret(at)}: ${CURRENT} is on version ${current ?? '(none)'}, neither the staged ` +
              `${staged.version} nor the replaced ${replacing.version}: someone else changed it`,
            'conflict',
          );
        // Secrets Manager puts AWSPREVIOUS on the version AWSCURRENT leaves.
        await moveLabel(at, CURRENT, { to: staged.version, from: replacing.version });
      }
      // The next rotation starts with nothing staged; on a retry, the label may be gone already.
      if (labelledWith(described, PENDING) === staged.version)
        await moveLabel(at, PENDING, { from: staged.version });
      return versionOf(at, staged.version);
    },

    async rePromote(at, previous, promotedTokenId) {
      const current = await readCurrent(at);
      if (current.data.tokenId !== promotedTokenId) return current.version;
      await moveLabel(at, CURRENT, { to: previous.version, from: current.version.version });
      return versionOf(at, previous.version);
    },

    async readPrevious(current) {
      const previous = labelledWith(await describeSecret(current), PREVIOUS);
      return previous === undefined ? undefined : getValue(current, { VersionId: previous });
    },

    async amend(current, fields) {
      const at = refOf(current);
      const { data } = await getValue(at, { VersionId: current.version });
      const now = labelledWith(await describeSecret(at), CURRENT);
      if (now !== current.version)
        throw awsError(
          `${describeAwsSecret(at)}: ${CURRENT} is on version ${now ?? '(none)'}, not ${current.version} as ` +
            'read: someone else changed it, so it is not overwritten',
          'conflict',
        );
      // The same amendment of the same version is one request: tried again, it makes no second version.
      const token = clientRequestToken(`amend ${current.version} ${JSON.stringify(fields)}`);
      const answer = await call('PutSecretValue', at, (client) =>
        client.send(
          new PutSecretValueCommand({
            SecretId: at.secretId,
            SecretString: JSON.stringify({ ...data, ...fields }),
            VersionStages: [AMENDING],
            ClientRequestToken: token,
          }),
        ),
      );
      const id = checked(putAnswer, answer, 'PutSecretValue', at).VersionId;
      // Moving the label from the version read fails if someone moved it since: that is the check-and-set.
      const moved = await moveLabel(at, CURRENT, { to: id, from: current.version }).then(
        () => undefined,
        (error: unknown) => error,
      );
      await moveLabel(at, AMENDING, { from: id });
      if (moved !== undefined) throw moved;
      return versionOf(at, id);
    },

    async writtenAt(v) {
      let nextToken: string | undefined;
      do {
        const page = checked(
          versionsAnswer,
          await call('ListSecretVersionIds', v, (client) =>
            client.send(
              new ListSecretVersionIdsCommand({
                SecretId: v.secretId,
                IncludeDeprecated: true,
                NextToken: nextToken,
              }),
            ),
          ),
          'ListSecretVersionIds',
          v,
        );
        const found = page.Versions?.find((listed) => listed.VersionId === v.version);
        if (found?.CreatedDate !== undefined) return found.CreatedDate.toISOString();
        // moto answers the last page with an empty NextToken rather than none.
        nextToken = page.NextToken || undefined;
      } while (nextToken !== undefined);
      throw awsError(`${describeAwsSecret(v)} has no version ${v.version} with a creation date`, 'not-found');
    },

    async replicaStatus(at) {
      return ((await describeSecret(at)).ReplicationStatus ?? []).map((replica) => ({
        region: replica.Region,
        status: replica.Status,
        ...(replica.StatusMessage === undefined ? {} : { message: replica.StatusMessage }),
      }));
    },

    async replicationProblems(at) {
      return at.replicas === undefined ? [] : replicaProblems(at, await this.replicaStatus(at));
    },
  };
}

/** Only the reference's own fields: a version passed as a reference must not carry its version along. */
function refOf(at: AwsSecretRef): AwsSecretRef {
  return {
    store: KIND,
    region: at.region,
    secretId: at.secretId,
    ...(at.endpoint === undefined ? {} : { endpoint: at.endpoint }),
    ...(at.replicas === undefined ? {} : { replicas: at.replicas }),
  };
}

export const awsSecretsManagerStore = defineStore({
  kind: KIND,
  entry,
  refOf: ({ region, secretId, endpoint, replicas }) =>
    refOf({ store: KIND, region, secretId, endpoint, replicas }),
  describe: describeAwsSecret,
  ref,
  version,
  owns: (refOrVersion) => 'store' in refOrVersion && refOrVersion.store === KIND,
  open: ({ aws }: { aws?: AwsSecretsManagerSettings }) => openAwsSecretsManagerStore(aws),
});
