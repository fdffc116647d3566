import { z } from 'zod';
import { GitHubClient } from '../github/client';
import { GitHubRepositoryRuns } from '../github/workflow-runs';
import { githubRepository } from '../inventory/github';
import { providerReference } from '../inventory/providers';
import { defineConsumer } from './define';

const entry = z
  .object({
    kind: z.literal('github-repository-runs'),
    github: providerReference('github'),
    repository: githubRepository.describe('"owner/repo" whose workflow runs read the credential'),
  })
  .strict();

/** The workflow runs of a GitHub repository: a job-aware overlap waits for those that started before the switch. */
export const githubRepositoryRuns = defineConsumer({
  kind: 'github-repository-runs',
  entry,
  spec: ({ repository }) => {
    const [owner = '', repo = ''] = repository.split('/');
    return { name: `repository ${repository} workflow runs`, spec: { owner, repo } };
  },
  adapter: (connection) => new GitHubRepositoryRuns(new GitHubClient(connection)),
});
