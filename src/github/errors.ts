import { z } from 'zod';
import { ProviderError, type ProviderErrorKind } from '../providers/errors';
import { remoteText } from '../redaction';

/** Where a GitHub call failed: names only, never a token or a value. */
export interface GitHubCallSite {
  step: string;
  resource: string;
}

// Octokit's RequestError, read by shape: it also carries the request (URL, body), which must not travel on.
const failedResponseSchema = z.object({
  response: z.object({
    status: z.number(),
    headers: z.record(z.string(), z.unknown()),
    data: z.unknown(),
  }),
});
const networkFailureSchema = z.object({
  name: z.enum(['HttpError', 'AbortError']),
  cause: z.object({ cause: z.object({ code: z.string() }).optional() }).optional(),
});
const messageSchema = z.object({ message: z.string() });

const header = (headers: Record<string, unknown>, name: string): string | undefined => {
  const value = headers[name];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
};

/**
 * GitHub's primary limit answers 403 or 429 with `x-ratelimit-remaining: 0`; its secondary limits answer
 * 403 or 429 with `retry-after` (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
 */
function isRateLimited(status: number, headers: Record<string, unknown>): boolean {
  if (status === 429) return true;
  return (
    status === 403 &&
    (header(headers, 'x-ratelimit-remaining') === '0' || header(headers, 'retry-after') !== undefined)
  );
}

/** `retry-after` in seconds, else the epoch second `x-ratelimit-reset` names. */
function retryAfterMs(headers: Record<string, unknown>): number | undefined {
  const retryAfter = Number(header(headers, 'retry-after') ?? Number.NaN);
  if (Number.isFinite(retryAfter)) return Math.max(0, retryAfter * 1000);
  const reset = Number(header(headers, 'x-ratelimit-reset') ?? Number.NaN);
  return Number.isFinite(reset) ? Math.max(0, reset * 1000 - Date.now()) : undefined;
}

function kindOf(status: number): ProviderErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 400 || status === 409 || status === 422) return 'conflict';
  if (status >= 500) return 'transient';
  return 'permanent';
}

/** GitHub's failures as ProviderErrors, keeping only the status, the rate-limit headers and GitHub's message. */
export function toProviderError(error: unknown, site: GitHubCallSite): ProviderError {
  if (error instanceof ProviderError) return error;
  const base = { provider: 'github', step: site.step, resource: site.resource };
  const failed = failedResponseSchema.safeParse(error);
  if (failed.success) {
    const { status, headers, data } = failed.data.response;
    const limited = isRateLimited(status, headers);
    const message = messageSchema.safeParse(data);
    return new ProviderError({
      ...base,
      status,
      kind: limited ? 'rate-limited' : kindOf(status),
      retryAfterMs: limited ? retryAfterMs(headers) : undefined,
      reason: message.success ? remoteText(message.data.message) : 'no reason given',
    });
  }
  // Octokit turns a fetch that got no answer into a RequestError with status 500 and no response.
  const network = networkFailureSchema.safeParse(error);
  if (network.success) {
    const code =
      network.data.cause?.cause?.code ?? (network.data.name === 'AbortError' ? 'aborted' : 'no answer');
    return new ProviderError({
      ...base,
      // Every call here reads, or puts or deletes a whole secret: repeating one is safe, so no outcome is unknown.
      kind: 'transient',
      reason: `GitHub could not be reached or dropped the connection (${code})`,
    });
  }
  return new ProviderError({ ...base, kind: 'permanent', reason: 'unexpected error' });
}
