import { z } from 'zod';
import type { Consumer, RunningJob } from '../providers/types';
import { parseAnswer, type GitLabClient } from './client';

// https://docs.gitlab.com/api/jobs/#list-project-jobs

export interface ProjectJobsSpec {
  projectId: string | number;
}

// GitLab sends more; these are the fields the overlap reads. `started_at` is null until a runner picks it up.
const jobsSchema = z.array(
  z.object({
    id: z.number().int(),
    name: z.string(),
    started_at: z.string().nullish(),
    web_url: z.string().optional(),
    pipeline: z.object({ id: z.number().int() }).partial().optional(),
  }),
);

/**
 * A project's running CI jobs. A job reads its CI/CD variables when a runner picks it up, so one that started
 * before the switch may hold the old value; a pending one will read the new (an assumption from GitLab's
 * documentation of predefined and project variables: they are passed to the job when it starts).
 */
export class GitLabProjectJobs implements Consumer<ProjectJobsSpec> {
  constructor(private readonly client: GitLabClient) {}

  async stillRunning(spec: ProjectJobsSpec, switchedAt: string): Promise<RunningJob[]> {
    const site = { step: 'list running jobs', resource: `project ${spec.projectId} jobs` };
    const answer = await this.client.call(site, (api) =>
      api.Jobs.all(spec.projectId, { scope: 'running' as const }),
    );
    const switched = Date.parse(switchedAt);
    return parseAnswer(jobsSchema, answer, site).flatMap((job) =>
      job.started_at == null || Date.parse(job.started_at) >= switched
        ? []
        : [
            {
              id: String(job.id),
              name: `project ${spec.projectId} job ${job.id} (${job.name})`,
              startedAt: job.started_at,
              ...(job.web_url === undefined ? {} : { url: job.web_url }),
            },
          ],
    );
  }
}
