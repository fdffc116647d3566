import { kindRegistry } from './define';
import { githubActionsSecret } from './github-actions-secret';
import { githubRepositoryRuns } from './github-repository-runs';
import { githubWorkflowDispatch } from './github-workflow-dispatch';
import {
  gitlabGroupAccessToken,
  gitlabPersonalAccessToken,
  gitlabProjectAccessToken,
  gitlabServiceAccountToken,
} from './gitlab-access-tokens';
import { gitlabCiVariable } from './gitlab-ci-variable';
import { gitlabGroupDeployToken, gitlabProjectDeployToken } from './gitlab-deploy-tokens';
import { gitlabPipeline } from './gitlab-pipeline';
import { gitlabPipelineSchedules } from './gitlab-pipeline-schedules';
import { gitlabPipelineTriggerToken } from './gitlab-pipeline-trigger-token';
import { gitlabProjectJobs } from './gitlab-project-jobs';
import { oauth2RefreshToken } from './oauth2-refresh-token';

/*
 * Every kind the inventory accepts. Adding one: define it in a module of its own beside these (its inventory
 * entry, its spec and its adapter; see gitlab-pipeline-schedules.ts for the smallest), then add it to one
 * list below. The inventory schema, its JSON Schema and the activities' registry are built from these lists.
 */
export const SOURCES = [
  gitlabProjectAccessToken,
  gitlabGroupAccessToken,
  gitlabPersonalAccessToken,
  gitlabProjectDeployToken,
  gitlabGroupDeployToken,
  gitlabServiceAccountToken,
  gitlabPipelineTriggerToken,
  oauth2RefreshToken,
] as const;
export const TARGETS = [gitlabCiVariable, githubActionsSecret] as const;
export const DEPENDENTS = [gitlabPipelineSchedules] as const;
export const CONSUMERS = [gitlabProjectJobs, githubRepositoryRuns] as const;
export const CANARIES = [gitlabPipeline, githubWorkflowDispatch] as const;

export const allKinds = kindRegistry({
  sources: SOURCES,
  targets: TARGETS,
  dependents: DEPENDENTS,
  consumers: CONSUMERS,
  canaries: CANARIES,
});
