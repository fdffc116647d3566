import { z } from 'zod';
import { asConfigurationError, ProviderError } from '../providers/errors';
import type { Canary, CanaryRun, CanaryState } from '../providers/types';
import { parseAnswer, type GitHubClient } from './client';

// https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
// https://docs.github.com/en/rest/actions/workflow-runs

export interface WorkflowCanarySpec {
  owner: string;
  repo: string;
  /** The workflow's file name (`canary.yml`) or its id. */
  workflow: string;
  ref: string;
  inputs: Record<string, string>;
}

/**
 * With `return_run_details` GitHub answers the dispatch with the run it started (since February 2026); an
 * older GitHub Enterprise Server answers 204 without, and the canary cannot tell its run from another's.
 */
const dispatchedSchema = z.object({
  workflow_run_id: z.number().int(),
  html_url: z.string().optional(),
});

const runSchema = z.object({
  status: z.string().nullish(),
  conclusion: z.string().nullish(),
});

/** A workflow run in the repository, dispatched on a ref: its jobs read the repository's secrets as the credential's consumers do. */
export class GitHubWorkflowCanary implements Canary<WorkflowCanarySpec> {
  constructor(private readonly client: GitHubClient) {}

  async start(spec: WorkflowCanarySpec): Promise<CanaryRun> {
    const workflow = `repository ${spec.owner}/${spec.repo} workflow ${spec.workflow}`;
    const site = { step: 'dispatch canary workflow', resource: `${workflow} on ${spec.ref}` };
    // 422: a workflow without a workflow_dispatch trigger, an unknown ref, inputs it does not declare.
    const answer = await this.client
      .call(site, async (api) => {
        const response = await api.rest.actions.createWorkflowDispatch({
          owner: spec.owner,
          repo: spec.repo,
          workflow_id: spec.workflow,
          ref: spec.ref,
          inputs: spec.inputs,
          return_run_details: true,
        });
        return response.status === 204 ? undefined : response.data;
      })
      .catch((error: unknown) => {
        throw asConfigurationError(error);
      });
    if (answer === undefined)
      throw new ProviderError({
        provider: 'github',
        step: site.step,
        resource: site.resource,
        kind: 'permanent',
        reason:
          'GitHub started the run without naming it (no return_run_details on this server): the canary cannot ' +
          'follow its run; remove the canary or use a GitHub that names dispatched runs',
      });
    const run = parseAnswer(dispatchedSchema, answer, site);
    return {
      id: String(run.workflow_run_id),
      name: `${workflow} run ${run.workflow_run_id}`,
      ...(run.html_url === undefined ? {} : { url: run.html_url }),
    };
  }

  async state(spec: WorkflowCanarySpec, run: CanaryRun): Promise<CanaryState> {
    const site = { step: 'read canary workflow run', resource: run.name };
    const answer = await this.client.call(site, async (api) => {
      const response = await api.rest.actions.getWorkflowRun({
        owner: spec.owner,
        repo: spec.repo,
        run_id: Number(run.id),
      });
      return response.data;
    });
    const { status, conclusion } = parseAnswer(runSchema, answer, site);
    if (status !== 'completed') return { state: 'running', conclusion: status ?? 'queued' };
    return { state: conclusion === 'success' ? 'passed' : 'failed', conclusion: conclusion ?? 'none' };
  }

  async cancel(spec: WorkflowCanarySpec, run: CanaryRun): Promise<void> {
    const site = { step: 'cancel canary workflow run', resource: run.name };
    try {
      await this.client.call(site, (api) =>
        api.rest.actions.cancelWorkflowRun({ owner: spec.owner, repo: spec.repo, run_id: Number(run.id) }),
      );
    } catch (error) {
      // 409: the run has completed already; 404: it is gone. Either way nothing is left to stop.
      const ended = error instanceof ProviderError && (error.status === 409 || error.kind === 'not-found');
      if (!ended) throw error;
    }
  }
}
