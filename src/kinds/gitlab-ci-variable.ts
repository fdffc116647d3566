import { z } from 'zod';
import { GitLabCiVariables } from '../gitlab/ci-variables';
import { GitLabClient } from '../gitlab/client';
import { targetField } from '../inventory/fields';
import { gitlabGroup, gitlabProject } from '../inventory/gitlab';
import { providerReference } from '../inventory/providers';
import { exactlyOneOf } from '../inventory/rules';
import { defineTarget } from './define';
import { gitlabProjectJobs } from './gitlab-project-jobs';

const entry = z
  .object({
    kind: z.literal('gitlab-ci-variable'),
    gitlab: providerReference('gitlab'),
    project: gitlabProject.optional(),
    group: gitlabGroup.optional(),
    key: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,255}$/, 'expected letters, digits and "_" (at most 255)')
      .describe('CI/CD variable key'),
    environmentScope: z.string().min(1).default('*').describe('GitLab environment scope; "*" for all'),
    masked: z.boolean().default(true).describe('hide the value in job logs'),
    protected: z.boolean().default(true).describe('expose the variable only to protected branches and tags'),
    variableType: z
      .enum(['env_var', 'file'])
      .default('env_var')
      .describe('env_var, or file for a path to it'),
    field: targetField,
  })
  .strict()
  .check(exactlyOneOf('project', 'group'));

export const gitlabCiVariable = defineTarget({
  kind: 'gitlab-ci-variable',
  entry,
  spec: ({ key, environmentScope, masked, variableType, project, group, protected: isProtected }) => {
    const owner =
      group === undefined
        ? { scope: 'project' as const, projectId: project ?? '' }
        : { scope: 'group' as const, groupId: group };
    return {
      name: `${owner.scope} ${project ?? group} CI variable ${key} (environment ${environmentScope})`,
      spec: { ...owner, key, environmentScope, masked, protected: isProtected, variableType },
    };
  },
  adapter: (connection) => new GitLabCiVariables(new GitLabClient(connection)),
  // GitLab lists jobs per project only: a group variable's consumers are listed under `consumers`.
  consumer: ({ gitlab, project }) =>
    project === undefined ? undefined : { kind: gitlabProjectJobs.kind, gitlab, project },
});
