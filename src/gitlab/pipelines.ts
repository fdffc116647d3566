import { z } from 'zod';
import { asConfigurationError, ProviderError } from '../providers/errors';
import type { Canary, CanaryRun, CanaryState } from '../providers/types';
import { parseAnswer, type GitLabClient } from './client';

// https://docs.gitlab.com/api/pipelines/

export interface PipelineCanarySpec {
  projectId: string | number;
  ref: string;
  /** Pipeline variables, sent as `env_var`: plain settings from the inventory, never a secret. */
  variables: Record<string, string>;
}

// GitLab sends more; these are what the canary reads.
const pipelineSchema = z.object({
  id: z.number().int(),
  status: z.string(),
  web_url: z.string().optional(),
});

/**
 * Statuses of a pipeline that has not ended: it may still pass. `manual` is a pipeline blocked on a manual
 * job, which the canary's timeout ends (https://docs.gitlab.com/ci/pipelines/#pipeline-statuses, an
 * assumption that the list of the pipelines API's `status` values is complete).
 */
const NOT_ENDED = new Set([
  'created',
  'waiting_for_resource',
  'preparing',
  'pending',
  'running',
  'scheduled',
  'manual',
]);

/** A GitLab pipeline on a ref of a project, whose jobs read the project's CI/CD variables as the credential's consumers do. */
export class GitLabPipelineCanary implements Canary<PipelineCanarySpec> {
  constructor(private readonly client: GitLabClient) {}

  async start(spec: PipelineCanarySpec): Promise<CanaryRun> {
    const site = { step: 'start canary pipeline', resource: `project ${spec.projectId} ref ${spec.ref}` };
    const variables = Object.entries(spec.variables).map(([key, value]) => ({
      key,
      value,
      variable_type: 'env_var' as const,
    }));
    // 400: no CI configuration on the ref, an unknown ref, pipeline variables the project refuses.
    const answer = await this.client
      .call(site, (api) =>
        api.Pipelines.create(spec.projectId, spec.ref, variables.length === 0 ? {} : { variables }),
      )
      .catch((error: unknown) => {
        throw asConfigurationError(error);
      });
    return runOf(spec, parseAnswer(pipelineSchema, answer, site));
  }

  async state(spec: PipelineCanarySpec, run: CanaryRun): Promise<CanaryState> {
    const site = { step: 'read canary pipeline', resource: run.name };
    const answer = await this.client.call(site, (api) => api.Pipelines.show(spec.projectId, Number(run.id)));
    const { status } = parseAnswer(pipelineSchema, answer, site);
    if (NOT_ENDED.has(status)) return { state: 'running', conclusion: status };
    return { state: status === 'success' ? 'passed' : 'failed', conclusion: status };
  }

  async cancel(spec: PipelineCanarySpec, run: CanaryRun): Promise<void> {
    const site = { step: 'cancel canary pipeline', resource: run.name };
    try {
      await this.client.call(site, (api) => api.Pipelines.cancel(spec.projectId, Number(run.id)));
    } catch (error) {
      // A pipeline that is gone has nothing left to stop.
      if (!(error instanceof ProviderError && error.kind === 'not-found')) throw error;
    }
  }
}

function runOf(spec: PipelineCanarySpec, pipeline: z.output<typeof pipelineSchema>): CanaryRun {
  return {
    id: String(pipeline.id),
    name: `project ${spec.projectId} pipeline ${pipeline.id}`,
    ...(pipeline.web_url === undefined ? {} : { url: pipeline.web_url }),
  };
}
