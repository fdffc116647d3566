import { z } from 'zod';
import { accessTokenSchema } from '../gitlab/access-tokens';
import { GitLabClient, allPages, parseAnswer, type GitLabApi } from '../gitlab/client';
import { deployTokenSchema } from '../gitlab/deploy-tokens';
import type { GitLabCallSite } from '../gitlab/errors';
import { triggerSchema as triggerAnswerSchema } from '../gitlab/pipeline-triggers';
import { inLanes } from '../parallel';
import { ProviderError } from '../providers/errors';
import type { ProviderConnection } from '../providers/registry';
import { merged, tokenShape, type Found, type FoundOwner, type Lister, type Listing } from './types';

/*
 * GitLab: a group, its descendant groups and every project under them, then each lister below. Every list is
 * asked for 100 a page (GitLab's most) and followed page by page through its `Link: rel="next"`
 * (https://docs.gitlab.com/api/rest/#offset-based-pagination), so a listing costs one call per page.
 */

const PER_PAGE = 100;
/** Namespaces listed at a time: a few, to stay far below GitLab's rate limits. */
const CONCURRENCY = 4;

export interface GitLabNamespace {
  id: number;
  path: string;
}

/** What the walk of a group found, and the connection the listers ask with. */
export interface GitLabScope {
  provider: string;
  client: GitLabClient;
  groups: GitLabNamespace[];
  projects: GitLabNamespace[];
}

// https://docs.gitlab.com/api/groups/#get-a-single-group, #list-descendant-groups, #list-projects:
// groups and projects both carry `id` and `full_path` / `path_with_namespace`.
const groupSchema = z.object({ id: z.number().int(), full_path: z.string() });
const projectSchema = z.object({ id: z.number().int(), path_with_namespace: z.string() });
// The sources' own answers, read as leniently as the lists give them: project and group tokens carry
// their role, personal tokens their user.
const tokenSchema = accessTokenSchema.extend({
  expires_at: z.string().nullish(),
  access_level: z.number().int().optional(),
  user_id: z.number().int().optional(),
});
// https://docs.gitlab.com/api/project_level_variables/#list-project-variables: a hidden variable's value is null.
const variableSchema = z.object({
  key: z.string(),
  value: z.string().nullable(),
  protected: z.boolean(),
  masked: z.boolean(),
  hidden: z.boolean().optional(),
  environment_scope: z.string().optional(),
});
// Deploy tokens have no creation time and no last use; triggers are named by their description, and their
// token (shortened for another owner) is never read here.
const deployListSchema = deployTokenSchema
  .omit({ username: true })
  .extend({ expires_at: z.string().nullish() });
const triggerSchema = triggerAnswerSchema.omit({ token: true }).extend({ last_used: z.string().nullish() });
// https://docs.gitlab.com/api/service_accounts/#list-all-group-service-accounts
const serviceAccountSchema = z.object({ id: z.number().int(), username: z.string() });
// https://docs.gitlab.com/api/users/#get-the-current-user: `is_admin` is in the answer for administrators.
// Assumption: a non-administrator's answer leaves it out or says false, so only `true` counts.
const currentUserSchema = z.object({ id: z.number().int(), is_admin: z.boolean().optional() });

const site = (step: string, resource: string): GitLabCallSite => ({ step, resource });

/** A listing a refusal (403, 404) stops: recorded as not listed, with GitLab's reason, and the rest go on. */
async function orRefused(what: string, list: () => Promise<Found[]>): Promise<Listing> {
  try {
    return { found: await list(), notListed: [] };
  } catch (error) {
    if (error instanceof ProviderError && (error.kind === 'auth' || error.kind === 'not-found'))
      return { found: [], notListed: [`${what}: not listed: ${error.message}`] };
    throw error;
  }
}

/** Runs `each` on every namespace, a few at a time, and merges what they found. */
async function eachOf(
  namespaces: GitLabNamespace[],
  each: (namespace: GitLabNamespace) => Promise<Listing>,
): Promise<Listing> {
  const listings: Listing[] = [];
  await inLanes(namespaces, CONCURRENCY, async (namespace) => {
    listings.push(await each(namespace));
  });
  return merged(listings);
}

function tokenFound(
  scope: GitLabScope,
  kind: string,
  owner: FoundOwner,
  token: z.output<typeof tokenSchema>,
): Found {
  return {
    provider: scope.provider,
    kind,
    role: 'token',
    owner,
    name: token.name,
    tokenId: String(token.id),
    scopes: token.scopes,
    ...(token.access_level === undefined ? {} : { accessLevel: token.access_level }),
    createdAt: token.created_at,
    expiresAt: token.expires_at ?? null,
    lastUsedAt: token.last_used_at ?? null,
  };
}

/**
 * The active tokens of each project or group. `state=active` leaves out revoked and expired ones (GitLab
 * 17.2 and later; earlier versions ignore it, so the answer is filtered here too).
 */
function resourceTokens(kind: 'project' | 'group'): Lister<GitLabScope> {
  const api = kind === 'project' ? 'ProjectAccessTokens' : 'GroupAccessTokens';
  return {
    what: `${kind} access tokens`,
    list: (scope) =>
      eachOf(kind === 'project' ? scope.projects : scope.groups, ({ id, path }) => {
        const at = site('discover', `${kind} ${path} access tokens`);
        return orRefused(at.resource, async () => {
          const answer = await scope.client.call(at, (gitlab: GitLabApi) =>
            gitlab[api].all(id, { state: 'active', perPage: PER_PAGE } as never),
          );
          return parseAnswer(z.array(tokenSchema), answer, at)
            .filter((token) => token.active && !token.revoked)
            .map((token) =>
              tokenFound(scope, `gitlab-${kind}-access-token`, { scope: kind, id, path }, token),
            );
        });
      }),
  };
}

/** Every CI/CD variable of each project or group, flagged when its key or readable value looks like a token. */
function variables(kind: 'project' | 'group'): Lister<GitLabScope> {
  const api = kind === 'project' ? 'ProjectVariables' : 'GroupVariables';
  return {
    what: `${kind} CI/CD variables`,
    list: (scope) =>
      eachOf(kind === 'project' ? scope.projects : scope.groups, ({ id, path }) => {
        const at = site('discover', `${kind} ${path} CI/CD variables`);
        return orRefused(at.resource, async () => {
          const answer = await scope.client.call(at, (gitlab: GitLabApi) =>
            gitlab[api].all(id, { perPage: PER_PAGE }),
          );
          return parseAnswer(z.array(variableSchema), answer, at).map((variable): Found => {
            const hidden = variable.hidden === true || variable.value === null;
            const shape = tokenShape(variable.key, hidden ? null : variable.value);
            return {
              provider: scope.provider,
              kind: 'gitlab-ci-variable',
              role: 'variable',
              owner: { scope: kind, id, path },
              name: variable.key,
              environmentScope: variable.environment_scope ?? '*',
              ...(shape === undefined ? {} : { looksLikeToken: shape }),
              ...(hidden ? { note: 'value hidden: judged by its key' } : {}),
            };
          });
        });
      }),
  };
}

/**
 * Every active personal access token of the instance: GET /personal_access_tokens lists them all only to an
 * administrator (anyone else sees their own), so it is asked only when GET /user says the admin token is
 * one. Tokens of project and group bot users are personal tokens too: the walk's own listers name those.
 */
const personalTokens: Lister<GitLabScope> = {
  what: 'personal access tokens',
  async list(scope) {
    const who = site('discover', 'the current user');
    const user = parseAnswer(
      currentUserSchema,
      await scope.client.call(who, (gitlab) => gitlab.Users.showCurrentUser()),
      who,
    );
    if (user.is_admin !== true)
      return {
        found: [],
        notListed: [
          'personal access tokens: not listed: needs an administrator (GET /personal_access_tokens)',
        ],
      };
    const at = site('discover', 'personal access tokens');
    const answer = await scope.client.call(at, (gitlab) =>
      gitlab.PersonalAccessTokens.all({ state: 'active', perPage: PER_PAGE }),
    );
    const found = parseAnswer(z.array(tokenSchema), answer, at)
      .filter((token) => token.active && !token.revoked)
      .map((token) =>
        tokenFound(scope, 'gitlab-personal-access-token', { scope: 'user', id: token.user_id ?? 0 }, token),
      );
    return { found, notListed: [] };
  },
};

/**
 * The active tokens of every service account of a top-level group: GET /groups/:id/service_accounts, then
 * each account's GET .../personal_access_tokens (GitLab 17.11 and later), both for a group's Owner or an
 * administrator. Service accounts belong to top-level groups only, so a walk from a subgroup asks for none.
 * Listed before the personal tokens, among which an administrator sees the same tokens.
 */
const serviceAccountTokens: Lister<GitLabScope> = {
  what: 'group service account tokens',
  list: (scope) =>
    eachOf(
      scope.groups.filter(({ path }) => !path.includes('/')),
      ({ id, path }) => {
        const at = site('discover', `group ${path} service accounts`);
        return orRefused(at.resource, async () => {
          const accounts = parseAnswer(
            z.array(serviceAccountSchema),
            await scope.client.call(at, (gitlab) => allPages(gitlab, `groups/${id}/service_accounts`)),
            at,
          );
          const found: Found[] = [];
          for (const account of accounts) {
            const tokensAt = site('discover', `group ${path} service account ${account.username} tokens`);
            const endpoint = `groups/${id}/service_accounts/${account.id}/personal_access_tokens`;
            const answer = await scope.client.call(tokensAt, (gitlab) =>
              allPages(gitlab, endpoint, { state: 'active' }),
            );
            const owner = { scope: 'service-account' as const, id, path, userId: account.id };
            found.push(
              ...parseAnswer(z.array(tokenSchema), answer, tokensAt)
                .filter((token) => token.active && !token.revoked)
                .map((token) => tokenFound(scope, 'gitlab-service-account-token', owner, token)),
            );
          }
          return found;
        });
      },
    ),
};

/** A GitLab timestamp as the `YYYY-MM-DD` every found token's expiry is. */
const dayOf = (timestamp: string | null | undefined) =>
  timestamp === null || timestamp === undefined ? null : new Date(timestamp).toISOString().slice(0, 10);

/** The active deploy tokens of each project or group (`active=true`: neither revoked nor expired). */
function deployTokens(kind: 'project' | 'group'): Lister<GitLabScope> {
  return {
    what: `${kind} deploy tokens`,
    list: (scope) =>
      eachOf(kind === 'project' ? scope.projects : scope.groups, ({ id, path }) => {
        const at = site('discover', `${kind} ${path} deploy tokens`);
        const owner = kind === 'project' ? { projectId: id } : { groupId: id };
        return orRefused(at.resource, async () => {
          const answer = await scope.client.call(at, (gitlab: GitLabApi) =>
            gitlab.DeployTokens.all({ ...owner, active: true, perPage: PER_PAGE }),
          );
          return parseAnswer(z.array(deployListSchema), answer, at)
            .filter((token) => !token.revoked && !token.expired)
            .map((token): Found => ({
              provider: scope.provider,
              kind: `gitlab-${kind}-deploy-token`,
              role: 'token',
              owner: { scope: kind, id, path },
              name: token.name,
              tokenId: `deploy-${token.id}`,
              scopes: token.scopes,
              expiresAt: dayOf(token.expires_at),
              note: 'GitLab reports no last use of a deploy token',
            }));
        });
      }),
  };
}

/** The trigger tokens of each project, by their description; an expired one starts nothing and is left out. */
const triggerTokens: Lister<GitLabScope> = {
  what: 'pipeline trigger tokens',
  list: (scope) =>
    eachOf(scope.projects, ({ id, path }) => {
      const at = site('discover', `project ${path} pipeline trigger tokens`);
      return orRefused(at.resource, async () => {
        const answer = await scope.client.call(at, (gitlab: GitLabApi) =>
          gitlab.PipelineTriggerTokens.all(id, { perPage: PER_PAGE }),
        );
        const today = new Date().toISOString();
        return parseAnswer(z.array(triggerSchema), answer, at)
          .filter((trigger) => trigger.expires_at == null || trigger.expires_at > today)
          .map((trigger): Found => ({
            provider: scope.provider,
            kind: 'gitlab-pipeline-trigger-token',
            role: 'token',
            owner: { scope: 'project', id, path },
            name: trigger.description,
            tokenId: `trigger-${trigger.id}`,
            createdAt: trigger.created_at,
            expiresAt: dayOf(trigger.expires_at),
            lastUsedAt: trigger.last_used ?? null,
          }));
      });
    }),
};

/*
 * The GitLab listers, run in this order. A new kind of token is one lister here, a `Lister<GitLabScope>`
 * returning its `Found` entries with the kind the inventory names it by. A token two listers find is kept
 * as the first found it: service account tokens before the personal tokens.
 */
export const GITLAB_LISTERS: readonly Lister<GitLabScope>[] = [
  resourceTokens('group'),
  resourceTokens('project'),
  deployTokens('group'),
  deployTokens('project'),
  triggerTokens,
  serviceAccountTokens,
  variables('group'),
  variables('project'),
  personalTokens,
];

/** The group, its descendant groups and every project under them (their subgroups' too). */
async function walk(client: GitLabClient, group: string): Promise<Pick<GitLabScope, 'groups' | 'projects'>> {
  const at = site('discover', `group ${group}`);
  const root = parseAnswer(
    groupSchema,
    // Assumption: `with_projects=false` keeps the answer small on versions that still embed the projects.
    await client.call(at, (gitlab) => gitlab.Groups.show(group, { withProjects: false } as never)),
    at,
  );
  const descendants = site('discover', `group ${group} descendant groups`);
  const projects = site('discover', `group ${group} projects`);
  const [groupAnswer, projectAnswer] = await Promise.all([
    client.call(descendants, (gitlab) =>
      gitlab.Groups.allDescendantGroups(root.id, { perPage: PER_PAGE } as never),
    ),
    client.call(projects, (gitlab) =>
      gitlab.Groups.allProjects(root.id, { includeSubgroups: true, perPage: PER_PAGE }),
    ),
  ]);
  return {
    groups: [root, ...parseAnswer(z.array(groupSchema), groupAnswer, descendants)].map((g) => ({
      id: g.id,
      path: g.full_path,
    })),
    projects: parseAnswer(z.array(projectSchema), projectAnswer, projects).map((p) => ({
      id: p.id,
      path: p.path_with_namespace,
    })),
  };
}

/** Everything GitLab's listers find under `group`, the listers run one after another. */
export async function discoverGitLab(
  provider: string,
  connection: ProviderConnection,
  group: string,
  listers: readonly Lister<GitLabScope>[] = GITLAB_LISTERS,
): Promise<Listing> {
  const client = new GitLabClient(connection);
  const scope: GitLabScope = { provider, client, ...(await walk(client, group)) };
  const listings: Listing[] = [];
  for (const lister of listers) listings.push(await lister.list(scope));
  const all = merged(listings);
  // A bot user's token shows in the personal list as well as its project's or group's: listed once.
  const seen = new Set<string>();
  return {
    notListed: all.notListed,
    found: all.found.filter((found) => {
      if (found.tokenId === undefined) return true;
      if (seen.has(found.tokenId)) return false;
      seen.add(found.tokenId);
      return true;
    }),
  };
}
