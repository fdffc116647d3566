import { z } from 'zod';
import type { Consumer, RunningJob } from '../providers/types';
import { parseAnswer, type GitHubClient } from './client';

// https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-repository

export interface RepositoryRunsSpec {
  owner: string;
  repo: string;
}

const runsSchema = z.object({
  workflow_runs: z.array(
    z.object({
      id: z.number().int(),
      name: z.string().nullish(),
      run_started_at: z.string().nullish(),
      html_url: z.string().optional(),
    }),
  ),
});

/** The most runs one page lists; the overlap asks for runs in progress, which are few. */
const PER_PAGE = 100;

/**
 * A repository's workflow runs in progress. A run's jobs read secrets as each starts, so a run that started
 * before the switch may hold the old value in a job that started before it too: the whole run is waited for.
 */
export class GitHubRepositoryRuns implements Consumer<RepositoryRunsSpec> {
  constructor(private readonly client: GitHubClient) {}

  async stillRunning(spec: RepositoryRunsSpec, switchedAt: string): Promise<RunningJob[]> {
    const repository = `${spec.owner}/${spec.repo}`;
    const site = { step: 'list runs in progress', resource: `repository ${repository} workflow runs` };
    const switched = Date.parse(switchedAt);
    const running: RunningJob[] = [];
    for (let page = 1; ; page += 1) {
      const answer = await this.client.call(site, async (api) => {
        const response = await api.rest.actions.listWorkflowRunsForRepo({
          owner: spec.owner,
          repo: spec.repo,
          status: 'in_progress',
          per_page: PER_PAGE,
          page,
        });
        return response.data;
      });
      const runs = parseAnswer(runsSchema, answer, site).workflow_runs;
      for (const run of runs) {
        if (run.run_started_at == null || Date.parse(run.run_started_at) >= switched) continue;
        running.push({
          id: String(run.id),
          name: `repository ${repository} workflow run ${run.id} (${run.name ?? 'unnamed'})`,
          startedAt: run.run_started_at,
          ...(run.html_url === undefined ? {} : { url: run.html_url }),
        });
      }
      if (runs.length < PER_PAGE) return running;
    }
  }
}
