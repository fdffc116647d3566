import { z } from 'zod';
import { GitLabClient } from '../gitlab/client';
import { GitLabProjectJobs } from '../gitlab/jobs';
import { gitlabProject } from '../inventory/gitlab';
import { providerReference } from '../inventory/providers';
import { defineConsumer } from './define';

const entry = z
  .object({
    kind: z.literal('gitlab-project-jobs'),
    gitlab: providerReference('gitlab'),
    project: gitlabProject,
  })
  .strict();

/** The CI jobs of a GitLab project: a job-aware overlap waits for those that started before the switch. */
export const gitlabProjectJobs = defineConsumer({
  kind: 'gitlab-project-jobs',
  entry,
  spec: ({ project }) => ({ name: `project ${project} jobs`, spec: { projectId: project } }),
  adapter: (connection) => new GitLabProjectJobs(new GitLabClient(connection)),
});
