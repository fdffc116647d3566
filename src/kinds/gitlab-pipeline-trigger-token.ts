import { z } from 'zod';
import { GitLabClient } from '../gitlab/client';
import { GitLabPipelineTriggers } from '../gitlab/pipeline-triggers';
import { gitlabProject } from '../inventory/gitlab';
import { providerReference } from '../inventory/providers';
import { defineSource } from './define';

const entry = z
  .object({
    kind: z.literal('gitlab-pipeline-trigger-token'),
    gitlab: providerReference('gitlab'),
    project: gitlabProject,
    description: z
      .string()
      .min(1)
      .max(255)
      .describe("the trigger's description in GitLab: the name the rotation finds its triggers by"),
    // Assumption: GitLab documents no longest lifetime for triggers; the access tokens' 365 days serves.
    lifetimeDays: z
      .int({ error: 'expected whole days from 1 to 365' })
      .min(1, 'expected whole days from 1 to 365')
      .max(365, 'expected whole days from 1 to 365')
      .optional()
      .describe('days from issue to expiry of each new trigger; without it, the trigger never expires'),
    strategy: z
      .literal('create-then-revoke', {
        error: 'expected create-then-revoke: GitLab has no endpoint that rotates a pipeline trigger in place',
      })
      .default('create-then-revoke')
      .describe('create-then-revoke: a new trigger beside the old one, both valid during the overlap'),
  })
  .strict();

/**
 * A project's pipeline trigger token, rotated create-then-revoke: a new trigger with the same description,
 * owned by the admin token's user, then the old one deleted after the overlap.
 */
export const gitlabPipelineTriggerToken = defineSource({
  kind: 'gitlab-pipeline-trigger-token',
  entry,
  spec: ({ project, description, lifetimeDays }) => ({
    name: `project ${project} pipeline trigger token "${description}"`,
    spec: { projectId: project, description, ...(lifetimeDays === undefined ? {} : { lifetimeDays }) },
  }),
  adapter: (connection) => new GitLabPipelineTriggers(new GitLabClient(connection)),
});
