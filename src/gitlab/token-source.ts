import { z } from 'zod';
import { ProviderError } from '../providers/errors';
import type { CredentialRef, TokenId } from '../providers/types';
import { GitLabClient, parseAnswer, type GitLabApi } from './client';
import type { GitLabCallSite } from './errors';

/*
 * What GitLab's token sources (access, deploy and pipeline trigger tokens) share: how their calls are named,
 * GitLab's ids, revoking what may already be gone, finding what a lost mint left, and refusing a token that
 * verify finds wrong. Each source says how it names its tokens and which of GitLab's endpoints it calls.
 */

/** Whether a call only reads, changes state at GitLab, or mints a token (see GitLabCallSite). */
export type CallChange = 'reads' | 'mutates' | 'mints';

export const sameScopes = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** A GitLab timestamp (or date) as the `YYYY-MM-DD` the rotation compares and reports. */
export const dayOf = (timestamp: string) => new Date(timestamp).toISOString().slice(0, 10);

export abstract class GitLabTokenSource<Spec> {
  constructor(
    protected readonly client: GitLabClient,
    protected readonly now: () => Date = () => new Date(),
  ) {}

  /** How errors name the spec's token (names only, never a value); its id follows once it has one. */
  protected abstract resource(spec: Spec): string;

  /** What GitLab calls the ids this source stores, for the message refusing one: `token`, `trigger`. */
  protected abstract readonly idName: string;

  protected site(spec: Spec, step: string, tokenId?: TokenId, change: CallChange = 'reads'): GitLabCallSite {
    return {
      step,
      resource: `${this.resource(spec)}${tokenId === undefined ? '' : ` (id ${tokenId})`}`,
      mutates: change !== 'reads',
      mints: change === 'mints',
    };
  }

  /** GitLab's own id of a token: what the rotation names by an opaque string must be one of its numbers. */
  protected gitlabId(site: GitLabCallSite, tokenId: TokenId): number {
    if (/^[1-9][0-9]{0,15}$/.test(tokenId)) return Number(tokenId);
    throw new ProviderError({
      provider: 'gitlab',
      ...site,
      kind: 'permanent',
      reason: `"${tokenId}" is not a GitLab ${this.idName} id (a positive integer): the stored tokenId field is wrong`,
    });
  }

  /** Revokes the token by `request`; one GitLab no longer has (404) counts as revoked. */
  protected async revokeOrGone(
    spec: Spec,
    tokenId: TokenId,
    request: (api: GitLabApi, id: number) => Promise<unknown>,
  ): Promise<void> {
    const site = this.site(spec, 'revoke', tokenId, 'mutates');
    const id = this.gitlabId(site, tokenId);
    try {
      await this.client.call(site, (api) => request(api, id));
    } catch (error) {
      if (!(error instanceof ProviderError) || error.kind !== 'not-found') throw error;
    }
  }

  /** The tokens `list` answers that the caller does not know of: what findOrphans narrows further. */
  protected async unknownTokens<T extends { id: number }>(
    spec: Spec,
    schema: z.ZodType<T>,
    known: CredentialRef[],
    list: (api: GitLabApi) => Promise<unknown>,
  ): Promise<T[]> {
    const site = this.site(spec, 'find orphans');
    const answer = await this.client.call(site, list);
    const knownIds = new Set(known.map((ref) => ref.tokenId));
    return parseAnswer(z.array(schema), answer, site).filter((token) => !knownIds.has(String(token.id)));
  }

  /** What verify found wrong with a new token, as one permanent failure; nothing found passes. */
  protected refuseIf(site: GitLabCallSite, problems: (string | undefined)[]): void {
    const found = problems.filter((problem) => problem !== undefined);
    if (found.length === 0) return;
    throw new ProviderError({ provider: 'gitlab', ...site, kind: 'permanent', reason: found.join('; ') });
  }
}
