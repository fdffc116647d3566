import { z } from 'zod';
import type { Consumer, RunningJob } from '../providers/types';
import { parseAnswer, type GitHubClient } from './client';

// https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-repository

export interface RepositoryRunsSpec {
  owner: string;
  repo: string;
}

const runsSchema = z.object({
  total_count: z.number().int(),
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

/** How many times the runs are listed when they changed while being listed. */
const PASSES = 3;

/**
 * A repository's workflow runs in progress. A run's jobs read secrets as each starts, so a run that started
 * before the switch may hold the old value in a job that started before it too: the whole run is waited for.
 */
export class GitHubRepositoryRuns implements Consumer<RepositoryRunsSpec> {
  constructor(private readonly client: GitHubClient) {}

  /**
   * Pages are read one after another, not as one snapshot: a run that ends while they are read moves every
   * older run back one place, and the one that crosses into a page already read would be missed (and with it,
   * maybe, the last run the drain waits for). So a pass over which `total_count` changed is read again; after
   * PASSES unsteady ones, every run any of them saw is named, which errs on waiting longer. (A run that starts
   * and one that ends between the same two pages leave `total_count` as it was: that goes unnoticed.)
   */
  async stillRunning(spec: RepositoryRunsSpec, switchedAt: string): Promise<RunningJob[]> {
    const seen = new Map<string, RunningJob>();
    for (let pass = 1; ; pass += 1) {
      const { running, steady } = await this.pass(spec, Date.parse(switchedAt));
      if (steady) return [...running.values()];
      for (const [id, job] of running) seen.set(id, job);
      if (pass >= PASSES) return [...seen.values()];
    }
  }

  private async pass(
    spec: RepositoryRunsSpec,
    switched: number,
  ): Promise<{ running: Map<string, RunningJob>; steady: boolean }> {
    const repository = `${spec.owner}/${spec.repo}`;
    const site = { step: 'list runs in progress', resource: `repository ${repository} workflow runs` };
    // Keyed by id: a run that starts between two pages pushes the list on by one, so the next page repeats
    // the last run of the one before.
    const running = new Map<string, RunningJob>();
    const totals = new Set<number>();
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
      const { total_count: total, workflow_runs: runs } = parseAnswer(runsSchema, answer, site);
      totals.add(total);
      for (const run of runs) {
        // `run_started_at` is to the second: a run that started in the switch's second counts as before it.
        if (run.run_started_at == null || Date.parse(run.run_started_at) >= switched) continue;
        running.set(String(run.id), {
          id: String(run.id),
          name: `repository ${repository} workflow run ${run.id} (${run.name ?? 'unnamed'})`,
          startedAt: run.run_started_at,
          ...(run.html_url === undefined ? {} : { url: run.html_url }),
        });
      }
      if (runs.length < PER_PAGE) return { running, steady: totals.size === 1 };
    }
  }
}
