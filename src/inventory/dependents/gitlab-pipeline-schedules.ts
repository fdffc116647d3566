import { z } from 'zod';
import { gitlabProject } from '../gitlab';
import { providerReference } from '../providers';

/** Every active pipeline schedule of a project is deactivated during the rotation, then reactivated. */
export const gitlabPipelineSchedules = z
  .object({
    kind: z.literal('gitlab-pipeline-schedules'),
    gitlab: providerReference('gitlab'),
    project: gitlabProject,
  })
  .strict();
