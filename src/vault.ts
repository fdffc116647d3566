import createDebug from 'debug';
import type createVaultClient from 'node-vault';
import { z } from 'zod';
import { nodeVault } from './on-first-use';
import { StoreError, type SecretData, type StoreFailure } from './stores/store';
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

export interface VaultKv {
  /** Writes a new version; with `cas`, only if the current version is exactly that (0: must not exist). */
  write(at: SecretPath, data: SecretData, options?: { cas?: number }): Promise<SecretVersion>;
  /** Reads one version, or the current one when `version` is omitted. */
  read(at: SecretPath, version?: number): Promise<{ data: SecretData; ref: SecretVersion }>;
  /** When a version was written: KV metadata, no value. */
  writtenAt(at: SecretVersion): Promise<string>;
  /** Throws, naming the mount, unless `mount` is a KV v2 engine: checked before anything is minted. */
  assertKvV2(mount: string): Promise<void>;
}

/** Vault's answers that say more than "refused": 403 is a token without the capability, or none at all. */
const VAULT_FAILURES: Record<number, StoreFailure> = { 403: 'denied', 404: 'not-found' };

/** A failed Vault call. The message names the operation, path and Vault's own reason, never a value. */
export class VaultError extends StoreError {
  override readonly name = 'VaultError';

  constructor(
    message: string,
    /** HTTP status, absent when Vault could not be reached. */
    status: number | undefined,
    /** Whether trying again later can succeed: Vault unreachable, sealed or failing (5xx). */
    retryable: boolean,
  ) {
    super(message, retryable ? 'unavailable' : (VAULT_FAILURES[status ?? 0] ?? 'refused'), status, 'vault');
  }
}

// `sys/internal/ui/mounts/<path>` answers any token with a capability under the path, unlike `sys/mounts`.
const mountResponseSchema = z.object({
  data: z.object({
    path: z.string(),
    type: z.string(),
    options: z.object({ version: z.string().optional() }).nullish(),
  }),
});

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

/**
 * Where Vault calls get their token. Asked before every call, because an AppRole session replaces its
 * token as it renews and logs in again (src/vault-auth.ts).
 */
export interface VaultTokenSource {
  current(): Promise<string>;
}

/** A token that never changes: VAULT_TOKEN, or the embedded dev server's root token. */
export function fixedToken(token: string): VaultTokenSource {
  return { current: () => Promise.resolve(token) };
}

export interface VaultConnection {
  endpoint: string;
  token: string | VaultTokenSource;
  /** PEM certificates to trust for an https endpoint, instead of the system's. */
  caCert?: string;
}

/** A node-vault client that sends no token of its own: each call passes the current one (see `withToken`). */
export function vaultClient(endpoint: string, caCert: string | undefined): createVaultClient.client {
  const client = nodeVault()({
    apiVersion: 'v1',
    endpoint,
    // With a CA node-vault builds its own https.Agent, which closes each connection unless told to keep it:
    // a TLS handshake per call. Without one, Node's global agents keep connections alive already.
    requestOptions: caCert === undefined ? undefined : { ca: caCert, agentOptions: { keepAlive: true } },
  });
  // node-vault falls back to the process's VAULT_TOKEN, which must not ride along on an AppRole login.
  client.token = '';
  return client;
}

/** Per-request options that authenticate one call, so concurrent calls never share a mutable token. */
export function withToken(token: string): { headers: Record<string, string> } {
  return { headers: { 'X-Vault-Token': token } };
}

export class VaultKvStore implements VaultKv {
  private readonly client: createVaultClient.client;
  private readonly tokens: VaultTokenSource;

  constructor(private readonly connection: VaultConnection) {
    this.client = vaultClient(connection.endpoint, connection.caCert);
    this.tokens = typeof connection.token === 'string' ? fixedToken(connection.token) : connection.token;
  }

  async write(at: SecretPath, data: SecretData, options: { cas?: number } = {}): Promise<SecretVersion> {
    const body = options.cas === undefined ? { data } : { data, options: { cas: options.cas } };
    const response = await this.call(`write ${describe(at)}`, (auth) =>
      this.client.write(dataPath(at), body, auth),
    );
    const { version } = parseOrThrow(writeResponseSchema, response, vaultAnswer('write', at)).data;
    return { ...at, version };
  }

  async read(at: SecretPath, version?: number): Promise<{ data: SecretData; ref: SecretVersion }> {
    const query = version === undefined ? '' : `?version=${version}`;
    const response = await this.call(`read ${describe(at)}`, (auth) =>
      this.client.read(`${dataPath(at)}${query}`, auth),
    );
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
    const response = await this.call(`read ${describe(at)}`, (auth) =>
      this.client.read(`${dataPath(at)}?version=${at.version}`, auth),
    );
    return parseOrThrow(readResponseSchema, response, vaultAnswer('read', at)).data.metadata.created_time;
  }

  async assertKvV2(mount: string): Promise<void> {
    const what = `mount check of ${mount}`;
    const response = await this.call(what, (auth) =>
      this.client.read(`sys/internal/ui/mounts/${mount}`, auth),
    );
    const { path, type, options } = parseOrThrow(
      mountResponseSchema,
      response,
      `Vault's answer to ${what}`,
    ).data;
    const problem =
      path !== `${mount}/`
        ? `is not a mount but a path inside the mount ${path}`
        : type !== 'kv'
          ? `is a ${type} engine`
          : options?.version !== '2'
            ? `is KV version ${options?.version ?? '1'} (vault kv enable-versioning ${mount} upgrades it)`
            : undefined;
    if (problem !== undefined)
      throw new VaultError(
        `Vault mount ${mount} ${problem}: the worker needs KV v2 there, for versions and check-and-set`,
        undefined,
        false,
      );
  }

  /**
   * Runs one Vault call (`what`: "read kv/app") with the current token and turns its failure into a VaultError that cannot carry
   * request data. A failed AppRole login is thrown as it is: its message names that step.
   */
  private async call(
    what: string,
    request: (auth: ReturnType<typeof withToken>) => Promise<unknown>,
  ): Promise<unknown> {
    const auth = withToken(await this.tokens.current());
    try {
      return await request(auth);
    } catch (error) {
      throw toVaultError(`Vault ${what}`, this.connection.endpoint, error);
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
/** Node's codes for a TLS certificate the client does not trust or that names another host. */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Vault sends some reasons in Go's multierror form, "1 error occurred:\n\t* permission denied\n\n": one line each. */
function unwrapReasons(text: string): string[] {
  const lines = /^\d+ errors? occurred:/.test(text)
    ? text.split('\n').flatMap((line) => (/^\s*\* /.test(line) ? [line.replace(/^\s*\* /, '')] : []))
    : [text];
  return lines.map((line) => line.trim()).filter((line) => line !== '');
}

/** `what` names the step, such as "Vault read kv/app"; the message keeps Vault's reasons and error codes only. */
export function toVaultError(what: string, endpoint: string, error: unknown): VaultError {
  const api = apiErrorSchema.safeParse(error);
  if (api.success) {
    const status = api.data.response.statusCode;
    const reasons = (api.data.response.body?.errors ?? []).flatMap(unwrapReasons);
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
  if (UNTRUSTED_CERTIFICATE.has(cause)) {
    // Retryable like an outage: the operator can put the right CA file in place and restart.
    return new VaultError(
      `${what} failed: the TLS certificate of Vault at ${endpoint} is not trusted (${cause}); ` +
        'VAULT_CACERT must name the CA that signed it, and the certificate must name this host',
      undefined,
      true,
    );
  }
  return new VaultError(
    `${what} failed: Vault at ${endpoint} could not be reached (${cause})`,
    undefined,
    true,
  );
}
