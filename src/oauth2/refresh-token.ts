import { z } from 'zod';
import { ProviderError, type ProviderErrorKind } from '../providers/errors';
import type { ProviderConnection } from '../providers/registry';
import { remoteText } from '../redaction';
import type {
  CredentialRef,
  CredentialSource,
  CredentialState,
  HeldSecret,
  IssueContext,
  IssuedCredential,
} from '../providers/types';
import { ValidationError, parseOrThrow } from '../validation';

/** The adapter's parameters, from the inventory's `oauth2-refresh-token` source. */
export interface RefreshTokenSpec {
  clientId: string;
  scopes?: string[];
  deliver: 'access-token' | 'refresh-token';
  introspectionUrl?: string;
  revocationUrl?: string;
}

/** The fields of the credential's Vault secret besides `token` (whichever token the targets receive). */
export const HELD_FIELDS = {
  refreshToken: 'refreshToken',
  accessToken: 'accessToken',
  /** When the access token expires (ISO 8601). */
  expiresAt: 'expiresAt',
  /** When this pair was issued (ISO 8601): `policy.every` counts from it. */
  issuedAt: 'issuedAt',
} as const;

const heldSchema = z.object({
  [HELD_FIELDS.refreshToken]: z.string().min(1),
  [HELD_FIELDS.accessToken]: z.string().min(1).optional(),
  [HELD_FIELDS.expiresAt]: z.iso.datetime().optional(),
  [HELD_FIELDS.issuedAt]: z.iso.datetime().optional(),
});

/** The tokens of a grant's answer, taken before anything else in it is checked: the grant has spent the old one. */
const issuedTokensSchema = z
  .object({
    access_token: z.string().min(1).optional(),
    refresh_token: z.string().min(1).optional(),
  })
  .refine((tokens) => tokens.access_token !== undefined || tokens.refresh_token !== undefined, {
    message: 'neither access_token nor refresh_token',
  });
/**
 * The rest of a grant's answer (RFC 6749, section 5.1), read liberally: `token_type` in any case (section
 * 5.1), `expires_in` only RECOMMENDED, and sent by some servers as a string or null.
 */
const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i, 'expected token_type "Bearer"'),
  expires_in: z
    .union([z.number(), z.string().regex(/^\s*\d+(\.\d+)?\s*$/, 'expected a number of seconds')])
    .transform(Number)
    .pipe(z.number().positive())
    .nullish(),
});
// RFC 6749, section 5.2.
const errorResponseSchema = z.object({ error: z.string(), error_description: z.string().optional() });
const introspectionSchema = z.object({ active: z.boolean() });

/** How a re-authorisation goes, for the alert that asks a person to do it. */
const REAUTHORISE =
  'A person must re-authorise: run the authorization code flow for the client with the offline_access ' +
  'scope, write the new refresh token to the credential’s Vault secret (field refreshToken, and token ' +
  'with the value the targets receive), then rotate it with force.';

/**
 * An OAuth2 refresh token with rotation (RFC 6749 section 6, RFC 9700 section 4.14.2): one refresh grant
 * returns a new access token and a new refresh token, and the old refresh token is dead. The grant is
 * made once, never retried with the old token, and never falls back to it.
 */
export class OAuth2RefreshTokens implements CredentialSource<RefreshTokenSpec> {
  readonly keepsStateInStore = true;

  constructor(private readonly connection: ProviderConnection) {}

  /** What Vault holds: the authorization server has no way to ask about a token without using it. */
  async inspect(spec: RefreshTokenSpec, ref: CredentialRef, held?: HeldSecret): Promise<CredentialState> {
    const state = this.heldState(spec, held, 'inspect');
    const expiresAt = state.expiresAt ?? null;
    return {
      tokenId: ref.tokenId,
      name: `OAuth2 client ${spec.clientId}`,
      scopes: spec.scopes ?? [],
      active: expiresAt === null || Date.parse(expiresAt) > Date.now(),
      revoked: false,
      createdAt: state.issuedAt ?? new Date(0).toISOString(),
      expiresAt,
      lastUsedAt: null,
    };
  }

  async issue(
    spec: RefreshTokenSpec,
    current: CredentialRef | undefined,
    _strategy?: unknown,
    context: IssueContext = {},
  ): Promise<IssuedCredential> {
    const held = this.heldState(spec, context.held, 'refresh');
    // The grant's generation names what it issues: one more than the one it replaces (0 for a seed named otherwise).
    const generation = /^[0-9]{1,15}$/.test(current?.tokenId ?? '') ? Number(current?.tokenId) : 0;
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: held.refreshToken });
    if (spec.scopes !== undefined) body.set('scope', spec.scopes.join(' '));
    const issuedAt = new Date();
    const answer = await this.post(spec, 'refresh', this.connection.url, body, { outcomeUnknown: true });
    if (answer.status === 400 && answer.error === 'invalid_grant') {
      throw await this.refused(spec, held, context.afterLostAnswer === true);
    }
    const issued = issuedTokensSchema.safeParse(answer.json);
    if (!issued.success) {
      // Granted, by its status, yet the tokens cannot be read: the old refresh token may be spent, as when
      // the answer is lost.
      throw new ProviderError({
        ...this.site(spec, 'refresh'),
        kind: 'transient',
        outcomeUnknown: true,
        status: answer.status,
        reason: `the answer carries no token${answer.json === undefined ? ' (not JSON)' : ''}`,
      });
    }
    await context.keep?.(
      Object.fromEntries(
        [
          [HELD_FIELDS.refreshToken, issued.data.refresh_token],
          [HELD_FIELDS.accessToken, issued.data.access_token],
        ].filter((field): field is [string, string] => field[1] !== undefined),
      ),
    );
    const tokens = this.parse(
      spec,
      'refresh',
      tokenResponseSchema,
      answer,
      context.keep === undefined
        ? undefined
        : 'its tokens are staged, and the next rotation goes on from them',
    );
    // RFC 6749, section 6: without a new refresh token, the one presented stays valid.
    const refreshToken = issued.data.refresh_token ?? held.refreshToken;
    return {
      tokenId: String(generation + 1),
      value: spec.deliver === 'access-token' ? tokens.access_token : refreshToken,
      // Without expires_in the access token's lifetime is unknown: no expiry is made up, and the
      // credential is rotated by policy.every alone.
      ...(tokens.expires_in == null
        ? {}
        : { expiresAt: new Date(issuedAt.getTime() + tokens.expires_in * 1000).toISOString() }),
      revokedTokenId: current?.tokenId,
      fields: {
        [HELD_FIELDS.refreshToken]: refreshToken,
        [HELD_FIELDS.accessToken]: tokens.access_token,
        [HELD_FIELDS.issuedAt]: issuedAt.toISOString(),
      },
    };
  }

  /** Asks the introspection endpoint, when there is one, whether the new token is active. */
  async verify(spec: RefreshTokenSpec, value: string): Promise<void> {
    if (spec.introspectionUrl === undefined) return;
    const answer = await this.post(
      spec,
      'verify',
      spec.introspectionUrl,
      new URLSearchParams({ token: value }),
    );
    if (!this.parse(spec, 'verify', introspectionSchema, answer).active) {
      throw this.error(
        spec,
        'verify',
        'permanent',
        'the authorization server says the new token is not active',
        200,
      );
    }
  }

  /** The rotation never revokes by id: the old refresh token dies with the grant that replaces it. */
  async revoke(spec: RefreshTokenSpec, ref: CredentialRef): Promise<void> {
    throw this.error(
      spec,
      'revoke',
      'permanent',
      `OAuth2 token #${ref.tokenId} cannot be revoked by id: an OAuth2 token is revoked by its value`,
    );
  }

  /** An authorization server lists no tokens; a lost grant is recognised from Vault instead (`afterLostAnswer`). */
  async findOrphans(): Promise<CredentialState[]> {
    return [];
  }

  /**
   * `invalid_grant` for the refresh token Vault holds. After a lost answer, that token was already used by
   * our own grant, so the server has revoked the chain: lost. Otherwise Vault holds the newest refresh
   * token we were given, so someone else used it: possibly stolen, and our access token is revoked.
   */
  private async refused(
    spec: RefreshTokenSpec,
    held: z.output<typeof heldSchema>,
    afterLostAnswer: boolean,
  ): Promise<ProviderError> {
    if (afterLostAnswer) {
      return this.error(
        spec,
        'refresh',
        'credential-lost',
        'the answer to the last refresh grant was lost (or a 5xx), and the authorization server refused the ' +
          `refresh token it replaced (invalid_grant), revoking the chain. ${REAUTHORISE}`,
        400,
      );
    }
    const revoked = await this.revokeAccessToken(spec, held.accessToken);
    return this.error(
      spec,
      'refresh',
      'compromised',
      'CRITICAL: the authorization server refused the newest refresh token this worker was given ' +
        '(invalid_grant): someone else has used it, so treat it as stolen. ' +
        `${revoked} ${REAUTHORISE}`,
      400,
    );
  }

  private async revokeAccessToken(spec: RefreshTokenSpec, accessToken: string | undefined): Promise<string> {
    if (spec.revocationUrl === undefined || accessToken === undefined) {
      return 'The access token Vault holds was not revoked (no revocationUrl): it stays valid until it expires.';
    }
    const body = new URLSearchParams({ token: accessToken, token_type_hint: 'access_token' });
    const answer = await this.post(spec, 'revoke access token', spec.revocationUrl, body).catch(
      (error: unknown) => error,
    );
    return answer instanceof Error || (answer as Answer).status !== 200
      ? 'Revoking the access token Vault holds FAILED: revoke it by hand.'
      : 'The access token Vault holds was revoked (RFC 7009).';
  }

  private heldState(spec: RefreshTokenSpec, held: HeldSecret | undefined, step: string) {
    try {
      return parseOrThrow(heldSchema, held ?? {}, 'the credential’s Vault secret');
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      throw this.error(spec, step, 'permanent', error.issues.join('; '));
    }
  }

  /** One POST with client authentication (RFC 6749 section 2.3.1, HTTP Basic); never retried here. */
  private async post(
    spec: RefreshTokenSpec,
    step: string,
    url: string,
    body: URLSearchParams,
    { outcomeUnknown = false } = {},
  ): Promise<Answer> {
    const basic = Buffer.from(
      `${encodeURIComponent(spec.clientId)}:${encodeURIComponent(this.connection.token)}`,
    ).toString('base64');
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      // The request may have reached the server: for a grant, the old refresh token may be spent.
      const cause =
        error instanceof Error
          ? ((error.cause as { code?: string } | undefined)?.code ?? error.name)
          : 'error';
      throw new ProviderError({
        ...this.site(spec, step),
        kind: 'transient',
        outcomeUnknown,
        reason: `no answer from ${new URL(url).origin} (${cause})`,
      });
    }
    const json: unknown = await response.json().catch(() => undefined);
    const problem = errorResponseSchema.safeParse(json);
    const answer: Answer = {
      status: response.status,
      json,
      error: problem.success ? problem.data.error : undefined,
    };
    if (response.ok || answer.error === 'invalid_grant') return answer;
    throw new ProviderError({
      ...this.site(spec, step),
      kind: kindOf(response.status, answer.error),
      reason: reasonOf(response, problem.data),
      status: response.status,
      retryAfterMs: retryAfterMs(response),
      // A 5xx may come after the server granted (a proxy, a failure on the way out): the old token may be spent.
      outcomeUnknown: outcomeUnknown && response.status >= 500,
    });
  }

  /** `note`: what became of the answer's tokens, for the message. */
  private parse<S extends z.ZodType>(
    spec: RefreshTokenSpec,
    step: string,
    schema: S,
    answer: Answer,
    note?: string,
  ): z.output<S> {
    const parsed = schema.safeParse(answer.json);
    if (parsed.success) return parsed.data;
    // Name the fields at fault, never their content: a token response is full of secrets.
    const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(body)').join(', ');
    const reason = `unexpected answer: fields ${fields}${note === undefined ? '' : `; ${note}`}`;
    throw this.error(spec, step, 'permanent', reason, answer.status);
  }

  private site(spec: RefreshTokenSpec, step: string) {
    return {
      provider: 'oauth2',
      step,
      resource: `client ${spec.clientId} at ${new URL(this.connection.url).origin}`,
    };
  }

  private error(
    spec: RefreshTokenSpec,
    step: string,
    kind: ProviderErrorKind,
    reason: string,
    status?: number,
    retryAfter?: number,
  ): ProviderError {
    return new ProviderError({ ...this.site(spec, step), kind, reason, status, retryAfterMs: retryAfter });
  }
}

interface Answer {
  status: number;
  json: unknown;
  /** RFC 6749 `error` code, when the body carries one. */
  error?: string;
}

const REQUEST_TIMEOUT_MS = 20_000;

function kindOf(status: number, error: string | undefined): ProviderErrorKind {
  if (status === 401 || error === 'invalid_client' || error === 'unauthorized_client') return 'auth';
  if (status === 429) return 'rate-limited';
  if (status >= 500) return 'transient';
  return 'permanent';
}

/**
 * The server's error code and description, never the request, which carries the token and client secret;
 * through remoteText, since a server may echo that request in its description.
 */
function reasonOf(response: Response, problem: z.output<typeof errorResponseSchema> | undefined): string {
  if (problem === undefined) return `HTTP ${response.status} ${remoteText(response.statusText)}`.trim();
  return remoteText(
    problem.error_description === undefined
      ? problem.error
      : `${problem.error}: ${problem.error_description}`,
  );
}

function retryAfterMs(response: Response): number | undefined {
  const seconds = Number(response.headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}
