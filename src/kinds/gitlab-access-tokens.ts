import { z } from 'zod';
import { GitLabAccessTokens, type AccessLevelNumber, type AccessTokenSpec } from '../gitlab/access-tokens';
import { GitLabClient } from '../gitlab/client';
import { distinctList } from '../inventory/fields';
import { gitlabGroup, gitlabProject } from '../inventory/gitlab';
import { providerReference } from '../inventory/providers';
import type { AdapterSpec, ProviderConnection } from '../providers/registry';
import { defineSource } from './define';

/* GitLab's project, group, personal and group service account access tokens: four kinds, one adapter. */

/** Scopes GitLab grants to project, group and personal access tokens alike. */
const SHARED_SCOPES = [
  'api',
  'read_api',
  'read_repository',
  'write_repository',
  'read_registry',
  'write_registry',
  'read_virtual_registry',
  'write_virtual_registry',
  'create_runner',
  'manage_runner',
  'ai_features',
  'k8s_proxy',
  'self_rotate',
  'read_observability',
  'write_observability',
] as const;
/** Scopes only a user's own token can carry. */
const PERSONAL_SCOPES = [...SHARED_SCOPES, 'read_user', 'sudo', 'admin_mode', 'read_service_ping'] as const;
/**
 * A service account's token is a personal one; `sudo`, `admin_mode` and `read_service_ping` need an
 * administrator, which a group's service account never is.
 */
const SERVICE_ACCOUNT_SCOPES = [...SHARED_SCOPES, 'read_user'] as const;

function scopes(allowed: readonly [string, ...string[]]) {
  return distinctList(z.enum(allowed), 'scope')
    .min(1, 'expected at least one scope')
    .describe('token scopes, as GitLab names them');
}

/** Fields every GitLab access token kind has. */
const tokenFields = {
  gitlab: providerReference('gitlab'),
  tokenName: z.string().min(1).max(255).describe('token name shown in GitLab'),
  lifetimeDays: z
    .int({ error: 'expected whole days from 1 to 365' })
    .min(1, 'expected whole days from 1 to 365')
    .max(365, "expected whole days from 1 to 365 (GitLab's longest token lifetime)")
    .describe('days from issue to expiry of each new token'),
  strategy: z
    .enum(['create-then-revoke', 'rotate-in-place'])
    .default('create-then-revoke')
    .describe(
      'create-then-revoke: a new token beside the old one, both valid during the overlap; ' +
        "rotate-in-place: GitLab's rotate endpoint, which revokes the old token at once",
    ),
  self: z
    .boolean()
    .default(false)
    .describe(
      "this token is the admin token of the provider named in `gitlab`: that provider's `credential` is this " +
        "secret's field `token`, and rotate-in-place calls the token's own self-rotate endpoint " +
        '(docs/providers/gitlab.md, "The rotator\'s own admin token")',
    ),
};

const accessLevel = z
  .enum(['guest', 'planner', 'reporter', 'developer', 'maintainer', 'owner'])
  .describe("the token's role in its project or group");

const projectEntry = z
  .object({
    kind: z.literal('gitlab-project-access-token'),
    project: gitlabProject,
    ...tokenFields,
    scopes: scopes(SHARED_SCOPES),
    accessLevel,
  })
  .strict();

const groupEntry = z
  .object({
    kind: z.literal('gitlab-group-access-token'),
    group: gitlabGroup,
    ...tokenFields,
    scopes: scopes(SHARED_SCOPES),
    accessLevel,
  })
  .strict();

const personalEntry = z
  .object({
    kind: z.literal('gitlab-personal-access-token'),
    user: z
      .int({ error: 'expected a numeric user id' })
      .positive('expected a numeric user id')
      .describe('GitLab user id of the token owner'),
    ...tokenFields,
    scopes: scopes(PERSONAL_SCOPES),
  })
  .strict();

const serviceAccountEntry = z
  .object({
    kind: z.literal('gitlab-service-account-token'),
    group: gitlabGroup.describe(
      'the top-level GitLab group that owns the service account: numeric id or path',
    ),
    serviceAccount: z
      .int({ error: 'expected a numeric user id' })
      .positive('expected a numeric user id')
      .describe("the service account's GitLab user id"),
    ...tokenFields,
    scopes: scopes(SERVICE_ACCOUNT_SCOPES),
  })
  .strict();

const ACCESS_LEVELS: Record<z.output<typeof accessLevel>, AccessLevelNumber> = {
  guest: 10,
  planner: 15,
  reporter: 20,
  developer: 30,
  maintainer: 40,
  owner: 50,
};

type TokenEntry = Pick<
  z.output<typeof personalEntry>,
  'tokenName' | 'scopes' | 'lifetimeDays' | 'strategy' | 'self'
>;

const specFields = ({ tokenName, scopes, lifetimeDays, strategy, self }: TokenEntry) => ({
  tokenName,
  scopes,
  lifetimeDays,
  strategy,
  // Only a self token's spec carries it: the histories of every other rotation stay as they were.
  ...(self ? { self: true as const } : {}),
});

/** Project and group tokens differ only in whose they are. */
function resourceToken(
  owner: { scope: 'project'; projectId: string | number } | { scope: 'group'; groupId: string | number },
  entry: TokenEntry & { accessLevel: z.output<typeof accessLevel> },
): AdapterSpec<AccessTokenSpec> {
  const id = owner.scope === 'project' ? owner.projectId : owner.groupId;
  return {
    name: `${owner.scope} ${id} access token "${entry.tokenName}"`,
    spec: { ...owner, ...specFields(entry), accessLevel: ACCESS_LEVELS[entry.accessLevel] },
  };
}

const accessTokens = (connection: ProviderConnection) => new GitLabAccessTokens(new GitLabClient(connection));

export const gitlabProjectAccessToken = defineSource({
  kind: 'gitlab-project-access-token',
  entry: projectEntry,
  spec: (entry) => resourceToken({ scope: 'project', projectId: entry.project }, entry),
  adapter: accessTokens,
});

export const gitlabGroupAccessToken = defineSource({
  kind: 'gitlab-group-access-token',
  entry: groupEntry,
  spec: (entry) => resourceToken({ scope: 'group', groupId: entry.group }, entry),
  adapter: accessTokens,
});

export const gitlabPersonalAccessToken = defineSource({
  kind: 'gitlab-personal-access-token',
  entry: personalEntry,
  spec: (entry) => ({
    name: `user ${entry.user} personal access token "${entry.tokenName}"`,
    spec: { scope: 'personal' as const, userId: entry.user, ...specFields(entry) },
  }),
  adapter: accessTokens,
});

/**
 * A group service account's personal access token, managed through the group's service accounts API. An
 * instance service account's token is a `gitlab-personal-access-token` of that user: GitLab manages it with
 * the personal access tokens API.
 */
export const gitlabServiceAccountToken = defineSource({
  kind: 'gitlab-service-account-token',
  entry: serviceAccountEntry,
  spec: (entry) => ({
    name: `group ${entry.group} service account ${entry.serviceAccount} token "${entry.tokenName}"`,
    spec: {
      scope: 'service-account' as const,
      groupId: entry.group,
      userId: entry.serviceAccount,
      ...specFields(entry),
    },
  }),
  adapter: accessTokens,
});
