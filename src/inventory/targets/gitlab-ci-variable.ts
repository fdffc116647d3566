import { z } from 'zod';
import { gitlabGroup, gitlabProject } from '../gitlab';
import { providerReference } from '../providers';
import { exactlyOneOf } from '../rules';

export const gitlabCiVariable = z
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
  })
  .strict()
  .check(exactlyOneOf('project', 'group'));
