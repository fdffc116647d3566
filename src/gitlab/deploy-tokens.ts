import { z } from 'zod';
import type {
  CredentialRef,
  CredentialSource,
  CredentialState,
  IssuedCredential,
  TokenId,
} from '../providers/types';
import { ProviderError, type ProviderErrorKind } from '../providers/errors';
import { USERNAME_FIELD } from '../stored-secret';
import { parseAnswer, type GitLabApi } from './client';
import type { GitLabCallSite } from './errors';
import { GitLabTokenSource, dayOf, sameScopes } from './token-source';

/*
 * GitLab's project and group deploy tokens (https://docs.gitlab.com/api/deploy_tokens/). A deploy token is a
 * username and a token: GitLab names each new one `gitlab+deploy-token-{n}`, so the username is stored beside
 * the token and rotated with it. GitLab has no rotate endpoint for them: create-then-revoke only.
 */

/** Whose deploy token: a project's (Maintainer manages them) or a group's (Owner). */
export type DeployTokenOwner =
  { scope: 'project'; projectId: string | number } | { scope: 'group'; groupId: string | number };

export type DeployTokenSpec = DeployTokenOwner & {
  tokenName: string;
  scopes: string[];
  lifetimeDays: number;
  strategy: 'create-then-revoke';
};

const DAY_MS = 86_400_000;

/**
 * GitLab's deploy token answer: no `created_at`, no `last_used_at`, and `expires_at` a timestamp or null.
 * https://docs.gitlab.com/api/deploy_tokens/#list-project-deploy-tokens
 */
export const deployTokenSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  username: z.string().min(1),
  expires_at: z.string().nullable(),
  revoked: z.boolean(),
  expired: z.boolean(),
  scopes: z.array(z.string()),
});
const mintedSchema = deployTokenSchema.extend({ token: z.string().min(1), expires_at: z.string() });
type GitLabDeployToken = z.infer<typeof deployTokenSchema>;

/** The `path_with_namespace` of a project, as GET /projects/:id and GET /groups/:id/projects give it. */
const projectSchema = z.object({ path_with_namespace: z.string().min(1) });

const ownerOf = (spec: DeployTokenOwner) =>
  spec.scope === 'project' ? { projectId: spec.projectId } : { groupId: spec.groupId };

/**
 * The state of a deploy token. GitLab reports neither when it was created nor when it was last used.
 * Assumption: GitLab keeps the time of day of `expires_at` (a timestamp column; the API's examples echo it),
 * so a token this adapter created was created `lifetimeDays` before its expiry to the second. A token made
 * by hand with another lifetime reads older or younger by the difference; one that never expires reads as
 * created at the epoch, so that it is due at once. `lastUsedAt` is always null: GitLab does not say.
 */
function stateOf(spec: DeployTokenSpec, token: GitLabDeployToken): CredentialState {
  const createdAt =
    token.expires_at === null
      ? new Date(0).toISOString()
      : new Date(Date.parse(token.expires_at) - spec.lifetimeDays * DAY_MS).toISOString();
  return {
    tokenId: String(token.id),
    name: token.name,
    scopes: token.scopes,
    active: !token.revoked && !token.expired,
    revoked: token.revoked,
    createdAt,
    expiresAt: token.expires_at === null ? null : dayOf(token.expires_at),
    lastUsedAt: null,
  };
}

/** A Git over HTTP answer's status as a failure kind: the token refused is permanent, GitLab's trouble is not. */
function gitFailureKind(status: number): ProviderErrorKind {
  if (status === 429) return 'rate-limited';
  if (status >= 500) return 'transient';
  return 'permanent';
}

/** GitLab project and group deploy tokens as a credential source. */
export class GitLabDeployTokens
  extends GitLabTokenSource<DeployTokenSpec>
  implements CredentialSource<DeployTokenSpec>
{
  protected readonly idName = 'deploy token';

  protected resource(spec: DeployTokenSpec): string {
    const owner = spec.scope === 'project' ? `project ${spec.projectId}` : `group ${spec.groupId}`;
    return `${owner} deploy token "${spec.tokenName}"`;
  }

  /** The expiry a token issued now gets: `lifetimeDays` from now, to the second (see stateOf). */
  expiryFor(spec: DeployTokenSpec): string {
    return new Date(this.now().getTime() + spec.lifetimeDays * DAY_MS).toISOString();
  }

  private async show(spec: DeployTokenSpec, tokenId: TokenId, step: string): Promise<GitLabDeployToken> {
    const site = this.site(spec, step, tokenId);
    const id = this.gitlabId(site, tokenId);
    const answer = await this.client.call(site, (api) => api.DeployTokens.show(id, ownerOf(spec)));
    return parseAnswer(deployTokenSchema, answer, site);
  }

  async inspect(spec: DeployTokenSpec, { tokenId }: CredentialRef): Promise<CredentialState> {
    return stateOf(spec, await this.show(spec, tokenId, 'inspect'));
  }

  /** One create call, never repeated (see CredentialSource.issue); the username is stored beside the token. */
  async issue(spec: DeployTokenSpec): Promise<IssuedCredential & { expiresAt: string }> {
    const site = this.site(spec, 'issue (create-then-revoke)', undefined, 'mints');
    // Gitbeaker's scope union lags GitLab's (no virtual registry scopes): GitLab validates these.
    type Scopes = Parameters<GitLabApi['DeployTokens']['create']>[1];
    const answer = await this.client.call(site, (api) =>
      api.DeployTokens.create(spec.tokenName, spec.scopes as Scopes, {
        ...ownerOf(spec),
        expires_at: this.expiryFor(spec),
      }),
    );
    const minted = parseAnswer(mintedSchema, answer, site);
    return {
      tokenId: String(minted.id),
      value: minted.token,
      expiresAt: dayOf(minted.expires_at),
      fields: { [USERNAME_FIELD]: minted.username },
    };
  }

  /**
   * A deploy token cannot call the REST API, so it is proven where it is used: with `read_repository`, Git
   * over HTTP lists a project's refs with it (https://docs.gitlab.com/user/project/deploy_tokens/#clone-a-repository).
   * Whatever its scopes, GitLab must show it active with the spec's scopes and expiry.
   */
  async verify(
    spec: DeployTokenSpec,
    value: string,
    ref: CredentialRef & { expiresAt: string },
  ): Promise<void> {
    const site = this.site(spec, 'verify', ref.tokenId);
    const token = await this.show(spec, ref.tokenId, 'verify');
    this.refuseIf(site, [
      !token.revoked && !token.expired ? undefined : 'it is not active',
      sameScopes(token.scopes, spec.scopes) ? undefined : `its scopes are ${token.scopes.join(', ')}`,
      token.expires_at !== null && dayOf(token.expires_at) === ref.expiresAt
        ? undefined
        : `it expires ${token.expires_at === null ? 'never' : dayOf(token.expires_at)}`,
    ]);
    if (!spec.scopes.includes('read_repository')) return;
    const project = await this.projectToClone(spec, site);
    // A group without projects has no repository to prove the token on: GitLab's own answer above must do.
    if (project !== undefined) await this.listRefs(site, project, token.username, value);
  }

  /** The path of a project the token can clone: the spec's own project, or one of the group's. */
  private async projectToClone(spec: DeployTokenSpec, site: GitLabCallSite): Promise<string | undefined> {
    if (spec.scope === 'project') {
      if (typeof spec.projectId === 'string' && spec.projectId.includes('/')) return spec.projectId;
      const answer = await this.client.call(site, (api) => api.Projects.show(spec.projectId));
      return parseAnswer(projectSchema, answer, site).path_with_namespace;
    }
    const answer = await this.client.call(site, (api) =>
      api.Groups.allProjects(spec.groupId, { includeSubgroups: true, perPage: 1, maxPages: 1 }),
    );
    return parseAnswer(z.array(projectSchema), answer, site)[0]?.path_with_namespace;
  }

  /** Git's first request of a clone, with the deploy token's username and token as HTTP Basic credentials. */
  private async listRefs(site: GitLabCallSite, project: string, username: string, token: string) {
    const url = new URL(
      `${encodeURI(project)}.git/info/refs`,
      `${this.client.connection.url.replace(/\/$/, '')}/`,
    );
    url.searchParams.set('service', 'git-upload-pack');
    const credentials = Buffer.from(`${username}:${token}`).toString('base64');
    let status: number;
    try {
      const response = await fetch(url, { headers: { authorization: `Basic ${credentials}` } });
      await response.body?.cancel();
      status = response.status;
    } catch {
      throw new ProviderError({
        provider: 'gitlab',
        ...site,
        kind: 'transient',
        reason: `GitLab could not be reached over Git HTTP to clone ${project}`,
      });
    }
    if (status === 200) return;
    throw new ProviderError({
      provider: 'gitlab',
      ...site,
      status,
      kind: gitFailureKind(status),
      reason: `Git over HTTP refused to list the refs of ${project} with the new token (HTTP ${status})`,
    });
  }

  /**
   * GitLab deletes a deploy token (DELETE answers 204, then the token is gone: 404); one already gone counts
   * as revoked.
   */
  revoke(spec: DeployTokenSpec, { tokenId }: CredentialRef): Promise<void> {
    return this.revokeOrGone(spec, tokenId, (api, id) => api.DeployTokens.remove(id, ownerOf(spec)));
  }

  /**
   * Active tokens with the spec's name that the caller does not know of. GitLab's answer has no `created_at`,
   * so `since` cannot narrow them. Assumption: no one else makes active deploy tokens of this name on this
   * project or group (docs/providers/gitlab.md says to give each credential's tokens a name of their own).
   */
  async findOrphans(
    spec: DeployTokenSpec,
    _since: string,
    known: CredentialRef[],
  ): Promise<CredentialState[]> {
    const unknown = await this.unknownTokens(spec, deployTokenSchema, known, (api) =>
      api.DeployTokens.all({ ...ownerOf(spec), active: true, perPage: 100 }),
    );
    return unknown
      .filter((token) => token.name === spec.tokenName && !token.revoked && !token.expired)
      .map((token) => stateOf(spec, token));
  }
}
