import { z } from 'zod';
import { GitLabClient } from '../gitlab/client';
import { GitLabPipelineCanary } from '../gitlab/pipelines';
import { gitlabProject } from '../inventory/gitlab';
import { providerReference } from '../inventory/providers';
import { canaryTiming, runSettingName } from './canary-timing';
import { defineCanary } from './define';

const entry = z
  .object({
    kind: z.literal('gitlab-pipeline'),
    gitlab: providerReference('gitlab'),
    project: gitlabProject.describe('the project whose pipeline uses the credential'),
    ref: z.string().min(1).describe('the branch or tag the pipeline runs on'),
    variables: z
      .record(z.string().regex(runSettingName, 'expected a CI/CD variable name'), z.string())
      .default({})
      .describe('pipeline variables, such as one that tells the pipeline it is a canary; never a secret'),
    ...canaryTiming,
  })
  .strict();

/** A pipeline on a ref of a GitLab project: passes when GitLab reports it `success`. */
export const gitlabPipeline = defineCanary({
  kind: 'gitlab-pipeline',
  entry,
  spec: ({ project, ref, variables }) => ({
    name: `project ${project} pipeline on ${ref}`,
    spec: { projectId: project, ref, variables },
  }),
  adapter: (connection) => new GitLabPipelineCanary(new GitLabClient(connection)),
});
