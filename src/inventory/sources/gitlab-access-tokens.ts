import { z } from 'zod';
import { distinctList } from '../fields';
import { gitlabGroup, gitlabProject } from '../gitlab';
import { providerReference } from '../providers';

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
};

const accessLevel = z
  .enum(['guest', 'planner', 'reporter', 'developer', 'maintainer', 'owner'])
  .describe("the token's role in its project or group");

export const gitlabProjectAccessToken = z
  .object({
    kind: z.literal('gitlab-project-access-token'),
    project: gitlabProject,
    ...tokenFields,
    scopes: scopes(SHARED_SCOPES),
    accessLevel,
  })
  .strict();

export const gitlabGroupAccessToken = z
  .object({
    kind: z.literal('gitlab-group-access-token'),
    group: gitlabGroup,
    ...tokenFields,
    scopes: scopes(SHARED_SCOPES),
    accessLevel,
  })
  .strict();

export const gitlabPersonalAccessToken = z
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
