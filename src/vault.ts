import createDebug from 'debug';
import createVaultClient from 'node-vault';
import { z } from 'zod';
import { parseOrThrow } from './validation';

// node-vault's debug output prints request bodies, which hold secret values: keep it off even
// when an operator sets DEBUG=* to diagnose something else.
if (createDebug.enabled('node-vault')) createDebug.enable(`${createDebug.disable()},-node-vault`);

const pathSegments = z
  .string()
  .min(1)
  .regex(
    /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/,
    'expected slash-separated names without leading or trailing "/"',
  )
  .refine((value) => !value.split('/').some((segment) => segment === '.' || segment === '..'), {
    message: 'must not contain "." or ".." segments',
  });

/** Where a KV v2 secret lives. Workflows pass these references, never the values. */
export const secretPathSchema = z.object({ mount: pathSegments, path: pathSegments }).strict();
export const secretVersionSchema = secretPathSchema.extend({ version: z.number().int().positive() }).strict();
/** One field of a KV v2 secret, such as the `token` beside other fields of an admin credential. */
export const secretFieldSchema = secretPathSchema.extend({ key: z.string().min(1) }).strict();
export type SecretPath = z.infer<typeof secretPathSchema>;
export type SecretVersion = z.infer<typeof secretVersionSchema>;
export type SecretField = z.infer<typeof secretFieldSchema>;

/** A secret's fields; values are strings so nothing is lost on the way to CI variables. */
export type SecretData = Record<string, string>;

export interface SecretStore {
  /** Writes a new version; with `cas`, only if the current version is exactly that (0: must not exist). */
  write(at: SecretPath, data: SecretData, options?: { cas?: number }): Promise<SecretVersion>;
  /** Reads one version, or the current one when `version` is omitted. */
  read(at: SecretPath, version?: number): Promise<{ data: SecretData; ref: SecretVersion }>;
  /** When a version was written: KV metadata, no value. */
  writtenAt(at: SecretVersion): Promise<string>;
}

/** A failed Vault call. The message names the operation, path and Vault's own reason, never a value. */
export class VaultError extends Error {
  override readonly name = 'VaultError';

  constructor(
    message: string,
    /** HTTP status, absent when Vault could not be reached. */
    readonly status: number | undefined,
    /** Whether trying again later can succeed: Vault unreachable, sealed or failing (5xx). */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const writeResponseSchema = z.object({ data: z.object({ version: z.number().int().positive() }) });
const readResponseSchema = z.object({
  data: z.object({
    data: z.record(z.string(), z.string()).nullable(),
    metadata: z.object({
      version: z.number().int().positive(),
      deletion_time: z.string(),
      created_time: z.string(),
    }),
  }),
});

export interface VaultConnection {
  endpoint: string;
  token: string;
  /** PEM certificates to trust for an https endpoint, instead of the system's. */
  caCert?: string;
}

export class VaultKvStore implements SecretStore {
  private readonly client: createVaultClient.client;

  constructor(private readonly connection: VaultConnection) {
    this.client = createVaultClient({
      apiVersion: 'v1',
      endpoint: connection.endpoint,
      token: connection.token,
      requestOptions: connection.caCert === undefined ? undefined : { ca: connection.caCert },
    });
  }

  async write(at: SecretPath, data: SecretData, options: { cas?: number } = {}): Promise<SecretVersion> {
    const body = options.cas === undefined ? { data } : { data, options: { cas: options.cas } };
    const response = await this.call('write', at, () => this.client.write(dataPath(at), body));
    const { version } = parseOrThrow(writeResponseSchema, response, vaultAnswer('write', at)).data;
    return { ...at, version };
  }

  async read(at: SecretPath, version?: number): Promise<{ data: SecretData; ref: SecretVersion }> {
    const query = version === undefined ? '' : `?version=${version}`;
    const response = await this.call('read', at, () => this.client.read(`${dataPath(at)}${query}`));
    const { data, metadata } = parseOrThrow(readResponseSchema, response, vaultAnswer('read', at)).data;
    if (data === null || metadata.deletion_time !== '') {
      throw new VaultError(
        `Vault read ${describe(at)} v${metadata.version} failed: that version is deleted`,
        404,
        false,
      );
    }
    return { data, ref: { ...at, version: metadata.version } };
  }

  /** Read with the version itself rather than from `<mount>/metadata`, so that `read` permission is enough. */
  async writtenAt(at: SecretVersion): Promise<string> {
    const response = await this.call('read', at, () =>
      this.client.read(`${dataPath(at)}?version=${at.version}`),
    );
    return parseOrThrow(readResponseSchema, response, vaultAnswer('read', at)).data.metadata.created_time;
  }

  /** Runs one Vault call and turns its failure into a VaultError that cannot carry request data. */
  private async call(operation: string, at: SecretPath, request: () => Promise<unknown>): Promise<unknown> {
    try {
      return await request();
    } catch (error) {
      throw toVaultError(`Vault ${operation} ${describe(at)}`, this.connection.endpoint, error);
    }
  }
}

function dataPath(at: SecretPath): string {
  return `${at.mount}/data/${at.path}`;
}

function describe(at: SecretPath): string {
  return `${at.mount}/${at.path}`;
}

function vaultAnswer(operation: string, at: SecretPath): string {
  return `Vault's answer to ${operation} ${describe(at)}`;
}

const apiErrorSchema = z.object({
  response: z.object({
    statusCode: z.number(),
    body: z
      .object({ errors: z.array(z.string()).optional() })
      .passthrough()
      .nullish(),
  }),
});
const networkErrorSchema = z.object({ code: z.string() });

function toVaultError(what: string, endpoint: string, error: unknown): VaultError {
  const api = apiErrorSchema.safeParse(error);
  if (api.success) {
    const status = api.data.response.statusCode;
    const reasons = api.data.response.body?.errors?.filter((reason) => reason !== '') ?? [];
    const reason = reasons.length > 0 ? reasons.join('; ') : 'no reason given';
    return new VaultError(
      `${what} failed: HTTP ${status}: ${reason}`,
      status,
      status >= 500 || status === 429,
    );
  }
  // Network failures carry the whole request (headers with the token, body with the value): keep only the code.
  const network = networkErrorSchema.safeParse(error);
  const cause = network.success ? network.data.code : 'unexpected error';
  return new VaultError(
    `${what} failed: Vault at ${endpoint} could not be reached (${cause})`,
    undefined,
    true,
  );
}
