import type { Octokit } from '@octokit/rest';
import type { z } from 'zod';
import { octokit } from '../on-first-use';
import { sharedPerToken } from '../providers/admin-clients';
import { ProviderError } from '../providers/errors';
import type { ProviderConnection } from '../providers/registry';
import { ValidationError, parseOrThrow } from '../validation';
import { toProviderError, type GitHubCallSite } from './errors';

export type GitHubApi = InstanceType<typeof Octokit>;

// Octokit's request log would print each failed call; errors reach operators as ProviderErrors instead.
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * One request, one attempt: @octokit/rest has no retry or throttling plugin, and none is added, so GitHub's
 * `retry-after` and `x-ratelimit-reset` reach Temporal's retry policy, which alone decides when to try again.
 */
export function githubApi(url: string, token: string): GitHubApi {
  return new (octokit().Octokit)({
    baseUrl: url.replace(/\/+$/, ''),
    auth: token,
    userAgent: 'cred-rotator',
    log: quiet,
  });
}

const adminApi = sharedPerToken(githubApi);

/** The admin connection: every call maps its failure to a ProviderError, and a 401 tries the fallback once. */
export class GitHubClient {
  private readonly primary: GitHubApi;
  private readonly fallback: GitHubApi | undefined;

  constructor(connection: ProviderConnection) {
    this.primary = adminApi(connection.url, connection.token);
    this.fallback =
      connection.fallbackToken === undefined ? undefined : adminApi(connection.url, connection.fallbackToken);
  }

  async call<T>(site: GitHubCallSite, request: (api: GitHubApi) => Promise<T>): Promise<T> {
    try {
      return await request(this.primary);
    } catch (error) {
      const failure = toProviderError(error, site);
      if (failure.status !== 401 || this.fallback === undefined) throw failure;
      try {
        return await request(this.fallback);
      } catch (fallbackError) {
        throw toProviderError(fallbackError, site);
      }
    }
  }
}

/** GitHub's answer, checked for the fields we use; a garbage answer becomes a permanent error naming the field. */
export function parseAnswer<S extends z.ZodType>(
  schema: S,
  answer: unknown,
  site: GitHubCallSite,
): z.output<S> {
  try {
    return parseOrThrow(schema, answer, "GitHub's answer");
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ProviderError({
      provider: 'github',
      step: site.step,
      resource: site.resource,
      kind: 'permanent',
      reason: `unexpected answer: ${error.issues.join('; ')}`,
    });
  }
}
