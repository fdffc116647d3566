import { z } from 'zod';
import { gitbeaker } from '../on-first-use';
import { ProviderError, type ProviderErrorKind } from '../providers/errors';

/** Where a GitLab call failed: names only, never a token or a value. */
export interface GitLabCallSite {
  step: string;
  resource: string;
  /** The call changes state at GitLab (POST/PUT/DELETE): a lost answer leaves its outcome unknown. */
  mutates?: boolean;
  /**
   * The call mints a token, which must not simply be repeated: a 5xx may come from a proxy or a failure after
   * GitLab made the token, so it leaves the outcome unknown too (RFC 9110, section 15.6), and the caller
   * looks for what it left before minting again.
   */
  mints?: boolean;
}

const failedResponseSchema = z.object({
  description: z.string(),
  response: z.object({
    status: z.number(),
    // `Headers` is read when an answer is parsed: naming it loads Node's fetch, which `config check` skips.
    headers: z.custom<Headers>((headers) => headers instanceof Headers),
  }),
});
const networkErrorSchema = z.object({ cause: z.object({ code: z.string() }) });

function kindOf(status: number): ProviderErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 409 || status === 400 || status === 422) return 'conflict';
  if (status === 429) return 'rate-limited';
  if (status >= 500) return 'transient';
  return 'permanent';
}

/** `Retry-After` in seconds or as an HTTP date (RFC 9110, section 10.2.3). */
function retryAfterMs(headers: Headers): number | undefined {
  const header = headers.get('retry-after');
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * GitLab's failures as ProviderErrors. Gitbeaker's error carries the whole request, headers and body
 * included, so only the status, `Retry-After` and GitLab's own message are kept.
 */
export function toProviderError(error: unknown, site: GitLabCallSite): ProviderError {
  if (error instanceof ProviderError) return error;
  const base = { provider: 'gitlab', step: site.step, resource: site.resource };
  const { GitbeakerRequestError, GitbeakerTimeoutError } = gitbeaker();
  if (error instanceof GitbeakerRequestError) {
    const failed = failedResponseSchema.safeParse(error.cause);
    if (failed.success) {
      const { status, headers } = failed.data.response;
      return new ProviderError({
        ...base,
        status,
        kind: kindOf(status),
        outcomeUnknown: status >= 500 && site.mints === true,
        retryAfterMs: status === 429 ? retryAfterMs(headers) : undefined,
        reason: failed.data.description || 'no reason given',
      });
    }
  }
  const outcomeUnknown = site.mutates === true;
  if (error instanceof GitbeakerTimeoutError) {
    return new ProviderError({
      ...base,
      kind: 'transient',
      outcomeUnknown,
      reason: 'GitLab did not answer in time',
    });
  }
  const network = networkErrorSchema.safeParse(error);
  if (network.success || (error instanceof TypeError && error.message === 'fetch failed')) {
    const code = network.success ? network.data.cause.code : 'connection failed';
    return new ProviderError({
      ...base,
      kind: 'transient',
      outcomeUnknown,
      reason: `GitLab could not be reached or dropped the connection (${code})`,
    });
  }
  return new ProviderError({ ...base, kind: 'permanent', reason: 'unexpected error' });
}
