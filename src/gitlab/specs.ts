import type { z } from 'zod';
import type { gitlabPipelineSchedules } from '../inventory/dependents/gitlab-pipeline-schedules';
import type {
  gitlabGroupAccessToken,
  gitlabPersonalAccessToken,
  gitlabProjectAccessToken,
} from '../inventory/sources/gitlab-access-tokens';
import type { gitlabCiVariable } from '../inventory/targets/gitlab-ci-variable';
import type { AdapterSpec } from '../providers/registry';
import type { AccessLevelNumber, AccessTokenSpec } from './access-tokens';
import type { CiVariableSpec } from './ci-variables';
import type { PipelineSchedulesSpec } from './pipeline-schedules';

/* The inventory's GitLab entries as the adapters' plain specs, each with the name operators see. */

const ACCESS_LEVELS: Record<string, AccessLevelNumber> = {
  guest: 10,
  planner: 15,
  reporter: 20,
  developer: 30,
  maintainer: 40,
  owner: 50,
};

type TokenEntry = Pick<
  z.output<typeof gitlabPersonalAccessToken>,
  'tokenName' | 'scopes' | 'lifetimeDays' | 'strategy'
>;

function tokenFields(entry: TokenEntry) {
  const { tokenName, scopes, lifetimeDays, strategy } = entry;
  return { tokenName, scopes, lifetimeDays, strategy };
}

/** Project and group tokens differ only in whose they are. */
function resourceToken(
  owner: { scope: 'project'; projectId: string | number } | { scope: 'group'; groupId: string | number },
  entry: TokenEntry & { accessLevel: string },
): AdapterSpec<AccessTokenSpec> {
  const id = owner.scope === 'project' ? owner.projectId : owner.groupId;
  return {
    name: `${owner.scope} ${id} access token "${entry.tokenName}"`,
    spec: { ...owner, ...tokenFields(entry), accessLevel: ACCESS_LEVELS[entry.accessLevel] },
  };
}

export const projectAccessToken = (entry: z.output<typeof gitlabProjectAccessToken>) =>
  resourceToken({ scope: 'project', projectId: entry.project }, entry);

export const groupAccessToken = (entry: z.output<typeof gitlabGroupAccessToken>) =>
  resourceToken({ scope: 'group', groupId: entry.group }, entry);

export function personalAccessToken(
  entry: z.output<typeof gitlabPersonalAccessToken>,
): AdapterSpec<AccessTokenSpec> {
  return {
    name: `user ${entry.user} personal access token "${entry.tokenName}"`,
    spec: { scope: 'personal', userId: entry.user, ...tokenFields(entry) },
  };
}

export function ciVariable(entry: z.output<typeof gitlabCiVariable>): AdapterSpec<CiVariableSpec> {
  const { key, environmentScope, masked, variableType } = entry;
  const owner =
    entry.group === undefined
      ? { scope: 'project' as const, projectId: entry.project ?? '' }
      : { scope: 'group' as const, groupId: entry.group };
  return {
    name: `${owner.scope} ${entry.project ?? entry.group} CI variable ${key} (environment ${environmentScope})`,
    spec: { ...owner, key, environmentScope, masked, protected: entry.protected, variableType },
  };
}

export function pipelineSchedules(
  entry: z.output<typeof gitlabPipelineSchedules>,
): AdapterSpec<PipelineSchedulesSpec> {
  return { name: `project ${entry.project} pipeline schedules`, spec: { projectId: entry.project } };
}
