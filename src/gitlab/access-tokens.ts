import { z } from 'zod';
import type {
  CredentialRef,
  CredentialSource,
  CredentialState,
  IssueStrategy,
  IssuedCredential,
} from '../providers/types';
import { ProviderError } from '../providers/errors';
import { allPages, callWith, gitlabApi, parseAnswer, type GitLabApi } from './client';
import type { GitLabCallSite } from './errors';
import { GitLabTokenSource, sameScopes } from './token-source';

/**
 * Whose token: a user's (personal), a project's or a group's (bot users GitLab creates per token), or a
 * top-level group's service account's (a personal token managed through the group).
 */
export type AccessTokenOwner =
  | { scope: 'personal'; userId: number }
  | { scope: 'project'; projectId: string | number }
  | { scope: 'group'; groupId: string | number }
  | { scope: 'service-account'; groupId: string | number; userId: number };

/** GitLab's role numbers: guest 10, planner 15, reporter 20, developer 30, maintainer 40, owner 50. */
export type AccessLevelNumber = 10 | 15 | 20 | 30 | 40 | 50;

export type AccessTokenSpec = AccessTokenOwner & {
  tokenName: string;
  scopes: string[];
  /** Project and group tokens only. */
  accessLevel?: AccessLevelNumber;
  lifetimeDays: number;
  strategy: IssueStrategy;
  /** The token is the admin token the worker connects with: rotate-in-place rotates it as itself. */
  self?: true;
};

/**
 * GitLab's answer about a personal, project or group access token (discovery's lists read it too).
 * https://docs.gitlab.com/api/project_access_tokens/#list-all-project-access-tokens and
 * https://docs.gitlab.com/api/personal_access_tokens/#list-all-personal-access-tokens
 */
export const accessTokenSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  scopes: z.array(z.string()),
  active: z.boolean(),
  revoked: z.boolean(),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullish(),
});
const mintedSchema = accessTokenSchema.extend({ token: z.string().min(1), expires_at: z.string() });
type GitLabToken = z.infer<typeof accessTokenSchema>;

/**
 * Finding what a lost mint left lists only active tokens, 100 a page (GitLab's most): on an owner with many
 * revoked tokens, fewer calls that a rate limit or a 5xx can break. GitLab before 17.2 ignores `state` for
 * project and group tokens; the answer is filtered here as well.
 */
const ACTIVE_ONLY = { state: 'active', perPage: 100 } as const;

/** The calls that differ between personal, project and group tokens; everything else is shared. */
interface TokenEndpoints {
  list(api: GitLabApi, name: string): Promise<unknown>;
  show(api: GitLabApi, tokenId: number): Promise<unknown>;
  create(api: GitLabApi, spec: AccessTokenSpec, expiresAt: string): Promise<unknown>;
  rotate(api: GitLabApi, tokenId: number, expiresAt: string): Promise<unknown>;
  revoke(api: GitLabApi, tokenId: number): Promise<unknown>;
}

// https://docs.gitlab.com/api/personal_access_tokens/ and https://docs.gitlab.com/api/user_tokens/
function personalEndpoints(userId: number): TokenEndpoints {
  return {
    list: (api, name) => api.PersonalAccessTokens.all({ userId, search: name, ...ACTIVE_ONLY }),
    show: (api, tokenId) => api.PersonalAccessTokens.show({ tokenId }),
    create: (api, spec, expiresAt) =>
      api.PersonalAccessTokens.create(userId, spec.tokenName, spec.scopes, { expiresAt }),
    rotate: (api, tokenId, expiresAt) => api.PersonalAccessTokens.rotate(tokenId, { expiresAt }),
    revoke: (api, tokenId) => api.PersonalAccessTokens.remove({ tokenId }),
  };
}

// https://docs.gitlab.com/api/project_access_tokens/ and https://docs.gitlab.com/api/group_access_tokens/
function resourceEndpoints(
  resource: 'ProjectAccessTokens' | 'GroupAccessTokens',
  id: string | number,
): TokenEndpoints {
  // Gitbeaker's unions lag GitLab's (no `self_rotate` scope, no planner role): GitLab validates these.
  type Scopes = Parameters<GitLabApi['ProjectAccessTokens']['create']>[2];
  type Level = NonNullable<Parameters<GitLabApi['ProjectAccessTokens']['create']>[4]>['accessLevel'];
  // https://docs.gitlab.com/api/project_access_tokens/#list-all-project-access-tokens: `state` since 17.2.
  type ListOptions = NonNullable<Parameters<GitLabApi['ProjectAccessTokens']['all']>[1]>;
  return {
    list: (api) => api[resource].all(id, ACTIVE_ONLY as ListOptions),
    show: (api, tokenId) => api[resource].show(id, tokenId),
    create: (api, spec, expiresAt) =>
      api[resource].create(id, spec.tokenName, spec.scopes as Scopes, expiresAt, {
        accessLevel: spec.accessLevel as Level,
      }),
    rotate: (api, tokenId, expiresAt) => api[resource].rotate(id, tokenId, { expiresAt }),
    revoke: (api, tokenId) => api[resource].revoke(id, tokenId),
  };
}

/**
 * https://docs.gitlab.com/api/service_accounts/#group-service-accounts (list, rotate with `expires_at` and
 * revoke since GitLab 17.11). Gitbeaker posts a new token to the wrong path and lacks list and revoke, so these
 * go through its requester. GitLab has no call to read one token of a service account: `show` finds it in the
 * list, by the token's name, which works for a group Owner as for an administrator.
 */
function serviceAccountEndpoints(
  groupId: string | number,
  userId: number,
  tokenName: string,
): TokenEndpoints {
  const base = `groups/${encodeURIComponent(String(groupId))}/service_accounts/${userId}/personal_access_tokens`;
  const requester = (api: GitLabApi) => api.GroupServiceAccounts.requester;
  return {
    list: (api, name) => allPages(api, base, { search: name, state: 'active' }),
    show: async (api, tokenId) => {
      const tokens = await allPages(api, base, { search: tokenName });
      if (!Array.isArray(tokens)) return tokens;
      const found: unknown = tokens.find((token: { id?: unknown }) => token.id === tokenId);
      if (found !== undefined) return found;
      throw new ProviderError({
        provider: 'gitlab',
        step: 'inspect',
        resource: `group ${groupId} service account ${userId} personal access token "${tokenName}" (id ${tokenId})`,
        kind: 'not-found',
        reason: `GitLab lists no such token of the service account`,
      });
    },
    create: async (api, spec, expiresAt) =>
      (await requester(api).post(base, { body: { name: spec.tokenName, scopes: spec.scopes, expiresAt } }))
        .body,
    rotate: async (api, tokenId, expiresAt) =>
      (await requester(api).post(`${base}/${tokenId}/rotate`, { body: { expiresAt } })).body,
    revoke: (api, tokenId) => requester(api).delete(`${base}/${tokenId}`),
  };
}

function endpointsFor(owner: AccessTokenSpec): TokenEndpoints {
  switch (owner.scope) {
    case 'personal':
      return personalEndpoints(owner.userId);
    case 'project':
      return resourceEndpoints('ProjectAccessTokens', owner.projectId);
    case 'group':
      return resourceEndpoints('GroupAccessTokens', owner.groupId);
    case 'service-account':
      return serviceAccountEndpoints(owner.groupId, owner.userId, owner.tokenName);
  }
}

function describeOwner(owner: AccessTokenOwner): string {
  switch (owner.scope) {
    case 'personal':
      return `user ${owner.userId}`;
    case 'project':
      return `project ${owner.projectId}`;
    case 'group':
      return `group ${owner.groupId}`;
    case 'service-account':
      return `group ${owner.groupId} service account ${owner.userId}`;
  }
}

function stateOf(token: GitLabToken): CredentialState {
  return {
    tokenId: String(token.id),
    name: token.name,
    scopes: token.scopes,
    active: token.active,
    revoked: token.revoked,
    createdAt: token.created_at,
    expiresAt: token.expires_at,
    lastUsedAt: token.last_used_at ?? null,
  };
}

/** GitLab access tokens (personal, project, group, service account) as a credential source. */
export class GitLabAccessTokens
  extends GitLabTokenSource<AccessTokenSpec>
  implements CredentialSource<AccessTokenSpec>
{
  protected readonly idName = 'token';

  protected resource(spec: AccessTokenSpec): string {
    // A service account's token is a personal access token of that user.
    const kind = spec.scope === 'service-account' ? 'personal' : spec.scope;
    return `${describeOwner(spec)} ${kind} access token "${spec.tokenName}"`;
  }

  /** The expiry a token issued now gets: `lifetimeDays` from today, as GitLab's `YYYY-MM-DD`. */
  expiryFor(spec: AccessTokenSpec): string {
    const day = new Date(this.now().getTime() + spec.lifetimeDays * 86_400_000);
    return day.toISOString().slice(0, 10);
  }

  async inspect(spec: AccessTokenSpec, { tokenId }: CredentialRef): Promise<CredentialState> {
    const site = this.site(spec, 'inspect', tokenId);
    const id = this.gitlabId(site, tokenId);
    const answer = await this.client.call(site, (api) => endpointsFor(spec).show(api, id));
    return stateOf(parseAnswer(accessTokenSchema, answer, site));
  }

  /** One mint call, never repeated: docs/providers/gitlab.md says why. GitLab always names the expiry. */
  async issue(
    spec: AccessTokenSpec,
    current: CredentialRef | undefined,
    strategy = spec.strategy,
  ): Promise<IssuedCredential & { expiresAt: string }> {
    const expiresAt = this.expiryFor(spec);
    const endpoints = endpointsFor(spec);
    if (strategy === 'create-then-revoke') {
      const site = this.site(spec, 'issue (create-then-revoke)', undefined, 'mints');
      const answer = await this.client.call(site, (api) => endpoints.create(api, spec, expiresAt));
      const minted = parseAnswer(mintedSchema, answer, site);
      return { tokenId: String(minted.id), value: minted.token, expiresAt: minted.expires_at };
    }
    if (current === undefined) {
      throw new ProviderError({
        provider: 'gitlab',
        ...this.site(spec, 'issue (rotate-in-place)'),
        kind: 'permanent',
        reason: 'rotate-in-place needs the id of the token to rotate',
      });
    }
    const site = this.site(spec, 'issue (rotate-in-place)', current.tokenId, 'mints');
    const id = this.gitlabId(site, current.tokenId);
    const answer = await (spec.self === true
      ? this.rotateSelf(site, expiresAt)
      : this.client.call(site, (api) => endpoints.rotate(api, id, expiresAt)));
    const minted = parseAnswer(mintedSchema, answer, site);
    return {
      tokenId: String(minted.id),
      value: minted.token,
      expiresAt: minted.expires_at,
      revokedTokenId: current.tokenId,
    };
  }

  /**
   * The admin token rotates itself (https://docs.gitlab.com/api/personal_access_tokens/#rotate-a-personal-access-token,
   * `self`; personal, project and group tokens, with the `api` or `self_rotate` scope). Never through the
   * client's fallback: a refused token must not rotate the fallback token in its place.
   */
  private rotateSelf(site: GitLabCallSite, expiresAt: string): Promise<unknown> {
    const { url, token } = this.client.connection;
    return callWith(gitlabApi(url, token), site, (api) =>
      api.PersonalAccessTokens.rotate('self', { expiresAt }),
    );
  }

  /** Calls GitLab as the new token itself: it must be that token, active, with the spec's scopes and expiry. */
  async verify(
    spec: AccessTokenSpec,
    value: string,
    ref: CredentialRef & { expiresAt: string },
  ): Promise<void> {
    const site = this.site(spec, 'verify', ref.tokenId);
    // https://docs.gitlab.com/api/personal_access_tokens/#get-details-on-a-personal-access-token
    // (project and group tokens are personal access tokens of their bot users, so `self` serves them too)
    const answer = await callWith(gitlabApi(this.client.connection.url, value), site, (api) =>
      api.PersonalAccessTokens.show(),
    );
    const token = parseAnswer(accessTokenSchema, answer, site);
    this.refuseIf(site, [
      String(token.id) === ref.tokenId ? undefined : `it is token ${token.id}`,
      token.active && !token.revoked ? undefined : 'it is not active',
      sameScopes(token.scopes, spec.scopes) ? undefined : `its scopes are ${token.scopes.join(', ')}`,
      token.expires_at === ref.expiresAt ? undefined : `it expires ${token.expires_at ?? 'never'}`,
    ]);
  }

  async revoke(spec: AccessTokenSpec, { tokenId }: CredentialRef): Promise<void> {
    try {
      await this.revokeOrGone(spec, tokenId, (api, id) => endpointsFor(spec).revoke(api, id));
    } catch (error) {
      // GitLab answers 400 for a token it cannot revoke, which includes one already revoked: look before failing.
      if (!(error instanceof ProviderError) || error.status !== 400) throw error;
      if (!(await this.inspect(spec, { tokenId })).revoked) throw error;
    }
  }

  async findOrphans(
    spec: AccessTokenSpec,
    since: string,
    known: CredentialRef[],
  ): Promise<CredentialState[]> {
    const from = Date.parse(since);
    const unknown = await this.unknownTokens(spec, accessTokenSchema, known, (api) =>
      endpointsFor(spec).list(api, spec.tokenName),
    );
    return unknown
      .filter((token) => token.name === spec.tokenName && token.active)
      .filter((token) => Date.parse(token.created_at) >= from)
      .map(stateOf);
  }
}
