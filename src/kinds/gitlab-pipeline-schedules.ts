import { z } from 'zod';
import { GitLabClient } from '../gitlab/client';
import { GitLabPipelineSchedules } from '../gitlab/pipeline-schedules';
import { gitlabProject } from '../inventory/gitlab';
import { providerReference } from '../inventory/providers';
import { defineDependent } from './define';

const entry = z
  .object({
    kind: z.literal('gitlab-pipeline-schedules'),
    gitlab: providerReference('gitlab'),
    project: gitlabProject,
  })
  .strict();

/** Every active pipeline schedule of a project is deactivated during the rotation, then reactivated. */
export const gitlabPipelineSchedules = defineDependent({
  kind: 'gitlab-pipeline-schedules',
  entry,
  spec: ({ project }) => ({ name: `project ${project} pipeline schedules`, spec: { projectId: project } }),
  adapter: (connection) => new GitLabPipelineSchedules(new GitLabClient(connection)),
});
