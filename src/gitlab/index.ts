import type { ProviderRegistry } from '../providers/registry';
import { GitLabAccessTokens } from './access-tokens';
import { GitLabCiVariables } from './ci-variables';
import { GitLabClient } from './client';
import { GitLabPipelineSchedules } from './pipeline-schedules';
import {
  ciVariable,
  groupAccessToken,
  personalAccessToken,
  pipelineSchedules,
  projectAccessToken,
} from './specs';

const accessTokens = (connection: ConstructorParameters<typeof GitLabClient>[0]) =>
  new GitLabAccessTokens(new GitLabClient(connection));

/** GitLab's adapters under the inventory's kinds; the three token kinds share one adapter. */
export const gitlabProviders: ProviderRegistry = {
  sources: {
    'gitlab-personal-access-token': accessTokens,
    'gitlab-project-access-token': accessTokens,
    'gitlab-group-access-token': accessTokens,
  },
  targets: { 'gitlab-ci-variable': (connection) => new GitLabCiVariables(new GitLabClient(connection)) },
  dependents: {
    'gitlab-pipeline-schedules': (connection) => new GitLabPipelineSchedules(new GitLabClient(connection)),
  },
  specs: {
    'gitlab-personal-access-token': personalAccessToken,
    'gitlab-project-access-token': projectAccessToken,
    'gitlab-group-access-token': groupAccessToken,
    'gitlab-ci-variable': ciVariable,
    'gitlab-pipeline-schedules': pipelineSchedules,
  },
};
