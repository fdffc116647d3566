import { z } from 'zod';
import { GitLabClient } from '../gitlab/client';
import { GitLabDeployTokens, type DeployTokenOwner, type DeployTokenSpec } from '../gitlab/deploy-tokens';
import { distinctList } from '../inventory/fields';
import { gitlabGroup, gitlabProject } from '../inventory/gitlab';
import { providerReference } from '../inventory/providers';
import type { AdapterSpec, ProviderConnection } from '../providers/registry';
import { USERNAME_FIELD } from '../stored-secret';
import { defineSource } from './define';

/* GitLab's project and group deploy tokens: two kinds, one adapter. https://docs.gitlab.com/user/project/deploy_tokens/ */

/** Scopes a project deploy token can carry. */
const PROJECT_SCOPES = [
  'read_repository',
  'read_registry',
  'write_registry',
  'read_package_registry',
  'write_package_registry',
] as const;
/** A group's deploy tokens can also reach its virtual registries (a group-level feature). */
const GROUP_SCOPES = [...PROJECT_SCOPES, 'read_virtual_registry', 'write_virtual_registry'] as const;

function scopes(allowed: readonly [string, ...string[]]) {
  return distinctList(z.enum(allowed), 'scope')
    .min(1, 'expected at least one scope')
    .describe('deploy token scopes, as GitLab names them');
}

/** Fields both deploy token kinds have. */
const tokenFields = {
  gitlab: providerReference('gitlab'),
  tokenName: z
    .string()
    .min(1)
    .max(255)
    .describe("deploy token name shown in GitLab; this credential's own (orphans are found by it)"),
  lifetimeDays: z
    .int({ error: 'expected whole days from 1 to 3650' })
    .min(1, 'expected whole days from 1 to 3650')
    .max(3650, 'expected whole days from 1 to 3650')
    .describe('days from issue to expiry of each new token'),
  strategy: z
    .literal('create-then-revoke', {
      error: 'expected create-then-revoke: GitLab cannot rotate a deploy token in place',
    })
    .default('create-then-revoke')
    .describe('create-then-revoke only: a new token beside the old one, both valid during the overlap'),
};

const projectEntry = z
  .object({
    kind: z.literal('gitlab-project-deploy-token'),
    project: gitlabProject,
    ...tokenFields,
    scopes: scopes(PROJECT_SCOPES),
  })
  .strict();

const groupEntry = z
  .object({
    kind: z.literal('gitlab-group-deploy-token'),
    group: gitlabGroup,
    ...tokenFields,
    scopes: scopes(GROUP_SCOPES),
  })
  .strict();

type TokenEntry = Pick<z.output<typeof projectEntry>, 'tokenName' | 'scopes' | 'lifetimeDays' | 'strategy'>;

function deployToken(owner: DeployTokenOwner, entry: TokenEntry): AdapterSpec<DeployTokenSpec> {
  const id = owner.scope === 'project' ? owner.projectId : owner.groupId;
  const { tokenName, scopes, lifetimeDays, strategy } = entry;
  return {
    name: `${owner.scope} ${id} deploy token "${tokenName}"`,
    spec: { ...owner, tokenName, scopes, lifetimeDays, strategy },
  };
}

const deployTokens = (connection: ProviderConnection) => new GitLabDeployTokens(new GitLabClient(connection));

export const gitlabProjectDeployToken = defineSource({
  kind: 'gitlab-project-deploy-token',
  entry: projectEntry,
  spec: (entry) => deployToken({ scope: 'project', projectId: entry.project }, entry),
  adapter: deployTokens,
  targetFields: [USERNAME_FIELD],
});

export const gitlabGroupDeployToken = defineSource({
  kind: 'gitlab-group-deploy-token',
  entry: groupEntry,
  spec: (entry) => deployToken({ scope: 'group', groupId: entry.group }, entry),
  adapter: deployTokens,
  targetFields: [USERNAME_FIELD],
});
