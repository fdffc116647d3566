import { z } from 'zod';
import { GitHubClient, parseAnswer, type GitHubApi } from '../github/client';
import type { GitHubCallSite } from '../github/errors';
import { inLanes } from '../parallel';
import { ProviderError } from '../providers/errors';
import type { ProviderConnection } from '../providers/registry';
import { merged, tokenShape, type Found, type FoundOwner, type Lister, type Listing } from './types';

/*
 * GitHub: an organization's Actions secrets and every repository's, or one repository's. Lists are asked for
 * 100 a page (GitHub's most) and followed through their `Link: rel="next"`
 * (https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api): one call per page.
 * GitHub lists fine-grained personal access tokens only to a GitHub App installed on the organization
 * (GET /orgs/{org}/personal-access-tokens, "Only GitHub Apps can use this endpoint"), and never a classic
 * token of a user: discovery says so rather than listing them.
 */

const PER_PAGE = 100;
const CONCURRENCY = 4;

export interface GitHubScope {
  provider: string;
  client: GitHubClient;
  organization?: string;
  /** `owner/name` of each repository to look at. */
  repositories: string[];
}

// https://docs.github.com/rest/actions/secrets#list-repository-secrets and #list-organization-secrets
const secretSchema = z.object({
  name: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  visibility: z.enum(['all', 'private', 'selected']).optional(),
});
// https://docs.github.com/rest/repos/repos#list-organization-repositories
const repositorySchema = z.object({ full_name: z.string() });

export const FINE_GRAINED_NOT_LISTED =
  'fine-grained personal access tokens: not listed: GitHub lists them only to a GitHub App installed on the ' +
  'organization (GET /orgs/{org}/personal-access-tokens); classic tokens are never listed';

const site = (resource: string): GitHubCallSite => ({ step: 'discover', resource });

/** Every secret of a scope, each an Actions secret target; a refusal (403, 404) is recorded as not listed. */
async function secretsOf(
  scope: GitHubScope,
  owner: FoundOwner,
  label: string,
  list: (api: GitHubApi) => Promise<unknown>,
): Promise<Listing> {
  const at = site(`${label} Actions secrets`);
  try {
    const answer = await scope.client.call(at, list);
    const found = parseAnswer(z.array(secretSchema), answer, at).map((secret): Found => {
      const shape = tokenShape(secret.name, undefined);
      return {
        provider: scope.provider,
        kind: 'github-actions-secret',
        role: 'variable',
        owner,
        name: secret.name,
        createdAt: secret.created_at,
        updatedAt: secret.updated_at,
        ...(secret.visibility === undefined ? {} : { visibility: secret.visibility }),
        ...(shape === undefined ? {} : { looksLikeToken: shape }),
      };
    });
    return { found, notListed: [] };
  } catch (error) {
    if (error instanceof ProviderError && (error.kind === 'auth' || error.kind === 'not-found'))
      return { found: [], notListed: [`${at.resource}: not listed: ${error.message}`] };
    throw error;
  }
}

const organizationSecrets: Lister<GitHubScope> = {
  what: 'organization Actions secrets',
  list: async (scope) => {
    const org = scope.organization;
    if (org === undefined) return { found: [], notListed: [] };
    return secretsOf(scope, { scope: 'organization', organization: org }, `organization ${org}`, (api) =>
      api.paginate(api.rest.actions.listOrgSecrets, { org, per_page: PER_PAGE }),
    );
  },
};

const repositorySecrets: Lister<GitHubScope> = {
  what: 'repository Actions secrets',
  list: async (scope) => {
    const listings: Listing[] = [];
    await inLanes(scope.repositories, CONCURRENCY, async (repository) => {
      const [owner = '', repo = ''] = repository.split('/');
      listings.push(
        await secretsOf(scope, { scope: 'repository', repository }, `repository ${repository}`, (api) =>
          api.paginate(api.rest.actions.listRepoSecrets, { owner, repo, per_page: PER_PAGE }),
        ),
      );
    });
    return merged(listings);
  },
};

/*
 * The GitHub listers, run in this order. A new kind is one lister here (environment secrets, Dependabot
 * secrets, or fine-grained tokens through a GitHub App), each a `Lister<GitHubScope>`.
 */
export const GITHUB_LISTERS: readonly Lister<GitHubScope>[] = [organizationSecrets, repositorySecrets];

export type GitHubTarget = { organization: string } | { repository: string };

/** Everything GitHub's listers find in an organization (and its repositories) or one repository. */
export async function discoverGitHub(
  provider: string,
  connection: ProviderConnection,
  target: GitHubTarget,
  listers: readonly Lister<GitHubScope>[] = GITHUB_LISTERS,
): Promise<Listing> {
  const client = new GitHubClient(connection);
  let repositories: string[];
  if ('repository' in target) repositories = [target.repository];
  else {
    const at = site(`organization ${target.organization} repositories`);
    const answer = await client.call(at, (api) =>
      api.paginate(api.rest.repos.listForOrg, { org: target.organization, per_page: PER_PAGE }),
    );
    repositories = parseAnswer(z.array(repositorySchema), answer, at).map((r) => r.full_name);
  }
  const scope: GitHubScope = {
    provider,
    client,
    ...('organization' in target ? { organization: target.organization } : {}),
    repositories,
  };
  const listings: Listing[] = [];
  for (const lister of listers) listings.push(await lister.list(scope));
  const all = merged(listings);
  return { found: all.found, notListed: [...all.notListed, FINE_GRAINED_NOT_LISTED] };
}
