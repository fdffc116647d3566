import { z } from 'zod';
import { GitHubClient } from '../github/client';
import { GitHubWorkflowCanary } from '../github/workflow-dispatch';
import { githubRepository } from '../inventory/github';
import { providerReference } from '../inventory/providers';
import { canaryTiming, runSettingName } from './canary-timing';
import { defineCanary } from './define';

const entry = z
  .object({
    kind: z.literal('github-workflow-dispatch'),
    github: providerReference('github'),
    repository: githubRepository.describe('"owner/repo" whose workflow uses the credential'),
    workflow: z
      .string()
      .regex(/^[^/]+\.ya?ml$|^[0-9]+$/, 'expected the workflow file name, such as "canary.yml", or its id')
      .describe('the workflow file (with an on: workflow_dispatch trigger) or its id'),
    ref: z.string().min(1).describe('the branch or tag the workflow runs on'),
    inputs: z
      .record(z.string().regex(runSettingName, 'expected an input name'), z.string())
      .default({})
      .describe('the workflow_dispatch inputs; never a secret'),
    ...canaryTiming,
  })
  .strict();

/** A dispatched run of a GitHub Actions workflow: passes when GitHub concludes it `success`. */
export const githubWorkflowDispatch = defineCanary({
  kind: 'github-workflow-dispatch',
  entry,
  spec: ({ repository, workflow, ref, inputs }) => {
    const [owner = '', repo = ''] = repository.split('/');
    return {
      name: `repository ${repository} workflow ${workflow} on ${ref}`,
      spec: { owner, repo, workflow, ref, inputs },
    };
  },
  adapter: (connection) => new GitHubWorkflowCanary(new GitHubClient(connection)),
});
