import type { Gitlab } from '@gitbeaker/rest';
import { z } from 'zod';
import { gitbeaker, gitbeakerRequester, onFirstUse } from '../on-first-use';
import { sharedPerToken } from '../providers/admin-clients';
import { ProviderError } from '../providers/errors';
import { remoteText } from '../redaction';
import { ValidationError, parseOrThrow } from '../validation';
import { toProviderError, type GitLabCallSite } from './errors';

export type GitLabApi = InstanceType<typeof Gitlab<false>>;

export interface GitLabConnection {
  /** Base URL, such as `https://gitlab.example.com`. */
  url: string;
  /** The admin token the worker acts with; the caller reads it from Vault. */
  token: string;
  /** Tried once when GitLab refuses `token` with 401, such as while that token is itself being rotated. */
  fallbackToken?: string;
}

async function responseBody(response: Response): Promise<unknown> {
  if (response.status === 204) return null;
  const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  const text = await response.text();
  if (type !== 'application/json') return text;
  // A body that does not parse (cut short by a proxy) goes on as text: checking the answer names the fault.
  const json = parseJson(text);
  return json === undefined ? text : (json ?? {});
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** GitLab's `{"message": ...}` or `{"error": ...}` (whichever it sent), or its page, as one short line. */
function describeFailure(text: string, contentType: string | null): string {
  if (!contentType?.includes('application/json')) return remoteText(text);
  const body = z
    .object({
      message: z.unknown().optional(),
      error: z.unknown().optional(),
      error_description: z.string().optional(),
    })
    .safeParse(parseJson(text));
  if (!body.success) return remoteText(text);
  const reason = body.data.error ?? body.data.message ?? '';
  const line = typeof reason === 'string' ? reason : JSON.stringify(reason);
  return remoteText(
    body.data.error_description === undefined ? line : `${line}: ${body.data.error_description}`,
  );
}

/**
 * One request, one attempt. @gitbeaker/rest's own handler silently retries 429 and 502 up to ten times
 * within a fraction of a second, ignoring `Retry-After`; retrying a rotate that way would present a
 * revoked token and make GitLab revoke the whole token family. Retries belong to Temporal, which honours
 * `Retry-After` and knows which steps must never repeat.
 */
async function singleAttempt(endpoint: string, options?: Record<string, unknown>) {
  const { prefixUrl, searchParams, method, headers, body, signal } = options ?? {};
  const base = typeof prefixUrl === 'string' && !prefixUrl.endsWith('/') ? `${prefixUrl}/` : prefixUrl;
  const url = new URL(endpoint, base as string | undefined);
  url.search = typeof searchParams === 'string' ? searchParams : '';
  const init = { method, headers, body, signal } as RequestInit;
  const request = new Request(url, init);
  const response = await fetch(request);
  if (response.ok) {
    return {
      body: (await responseBody(response)) as Record<string, unknown>,
      headers: Object.fromEntries(response.headers.entries()),
      status: response.status,
    };
  }
  const description = describeFailure(await response.text(), response.headers.get('content-type'));
  throw new (gitbeaker().GitbeakerRequestError)(description, { cause: { description, request, response } });
}

const requesterFn = onFirstUse(() =>
  gitbeakerRequester().createRequesterFn((_, options) => Promise.resolve(options), singleAttempt),
);

export function gitlabApi(url: string, token: string): GitLabApi {
  // No client-side rate limiting either: GitLab's 429 and Retry-After are the authority.
  return new (gitbeaker().Gitlab)({ host: url, token, requesterFn: requesterFn(), rateLimits: {} });
}

/** Every page of a GET that gitbeaker has no method for, 100 a page (GitLab's most). */
export async function allPages(
  api: GitLabApi,
  endpoint: string,
  query: Record<string, string> = {},
): Promise<unknown> {
  const items: unknown[] = [];
  for (let page = 1; ; page += 1) {
    const answer = await api.GroupServiceAccounts.requester.get(endpoint, {
      searchParams: { ...query, perPage: 100, page },
    });
    // Anything but a list goes back as it came: checking the answer names the fault.
    if (!Array.isArray(answer.body)) return answer.body;
    items.push(...(answer.body as unknown[]));
    if (!answer.headers['x-next-page']) return items;
  }
}

const adminApi = sharedPerToken(gitlabApi);

/** The admin connection: every call maps its failure to a ProviderError, and a 401 tries the fallback once. */
export class GitLabClient {
  private readonly primary: GitLabApi;
  private readonly fallback: GitLabApi | undefined;

  constructor(readonly connection: GitLabConnection) {
    this.primary = adminApi(connection.url, connection.token);
    this.fallback =
      connection.fallbackToken === undefined ? undefined : adminApi(connection.url, connection.fallbackToken);
  }

  async call<T>(site: GitLabCallSite, request: (api: GitLabApi) => Promise<T>): Promise<T> {
    try {
      return await request(this.primary);
    } catch (error) {
      const failure = toProviderError(error, site);
      if (failure.status !== 401 || this.fallback === undefined) throw failure;
      return callWith(this.fallback, site, request);
    }
  }
}

/** One call with a given token, failures mapped; used to verify a freshly minted token. */
export async function callWith<T>(
  api: GitLabApi,
  site: GitLabCallSite,
  request: (api: GitLabApi) => Promise<T>,
): Promise<T> {
  try {
    return await request(api);
  } catch (error) {
    throw toProviderError(error, site);
  }
}

/**
 * GitLab's answer, checked for the fields we use; a garbage answer becomes a permanent error naming the field.
 * A mint's answer that does not parse or lacks the token may come after GitLab made the token (a proxy
 * cutting the body short): its outcome is unknown, so that the rotation looks for the token before
 * minting again, as after a lost answer.
 */
export function parseAnswer<S extends z.ZodType>(
  schema: S,
  answer: unknown,
  site: GitLabCallSite,
): z.output<S> {
  try {
    return parseOrThrow(schema, answer, "GitLab's answer");
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const mints = site.mints === true;
    throw new ProviderError({
      provider: 'gitlab',
      step: site.step,
      resource: site.resource,
      kind: mints ? 'transient' : 'permanent',
      outcomeUnknown: mints,
      reason: `unexpected answer: ${error.issues.join('; ')}${mints ? '; the token may have been made' : ''}`,
    });
  }
}
