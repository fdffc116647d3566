import { z } from 'zod';
import { GitHubActionsSecrets } from '../github/actions-secrets';
import { GitHubClient } from '../github/client';
import { describeSecret, type ActionsSecretSpec } from '../github/scopes';
import { distinctList, targetField } from '../inventory/fields';
import { githubRepository } from '../inventory/github';
import { providerReference } from '../inventory/providers';
import { exactlyOneOf, isSet, stringAt } from '../inventory/rules';
import { crossFieldRule } from '../validation';
import { defineTarget } from './define';
import { githubRepositoryRuns } from './github-repository-runs';

const NAME = /^[A-Za-z0-9_.-]+$/;

/** A repository secret, a deployment environment's secret, or an organization secret. */
const entry = z
  .object({
    kind: z.literal('github-actions-secret'),
    github: providerReference('github'),
    repository: githubRepository.optional().describe('for a repository secret: "owner/repo"'),
    environment: z
      .string()
      .min(1)
      .optional()
      .describe('with repository: the deployment environment whose secret this is'),
    organization: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'expected a GitHub organization name')
      .optional()
      .describe('for an organization secret: the organization'),
    visibility: z
      .enum(['all', 'private', 'selected'])
      .optional()
      .describe('with organization: which repositories can use the secret'),
    selectedRepositories: distinctList(z.string().regex(NAME, 'expected a repository name'), 'repository')
      .min(1, 'expected at least one repository')
      .optional()
      .describe('with visibility "selected": the repositories that can use the secret'),
    name: z
      .string()
      .regex(
        /^(?!GITHUB_)[A-Za-z_][A-Za-z0-9_]*$/i,
        'expected letters, digits and "_", not starting with a digit or "GITHUB_"',
      )
      .describe('secret name'),
    field: targetField,
  })
  .strict()
  .check(exactlyOneOf('repository', 'organization'))
  .check(
    crossFieldRule((secret, report) => {
      const has = (field: string) => isSet(secret, field);
      if (has('environment') && !has('repository')) report(['environment'], 'allowed only with repository');
      if (has('organization') && !has('visibility')) {
        report(['visibility'], 'required with organization: expected "all", "private" or "selected"');
      }
      if (has('visibility') && !has('organization')) report(['visibility'], 'allowed only with organization');
      const selected = stringAt(secret, 'visibility') === 'selected';
      if (selected && !has('selectedRepositories')) {
        report(['selectedRepositories'], 'required when visibility is "selected"');
      }
      if (!selected && has('selectedRepositories')) {
        report(['selectedRepositories'], 'allowed only when visibility is "selected"');
      }
    }),
  );

/** The entry as the adapter's spec: which secret, at which level. */
function actionsSecretSpec(secret: z.output<typeof entry>): ActionsSecretSpec {
  const { name } = secret;
  if (secret.repository !== undefined) {
    const [owner = '', repo = ''] = secret.repository.split('/');
    return secret.environment === undefined
      ? { scope: 'repository', owner, repo, name }
      : { scope: 'environment', owner, repo, environment: secret.environment, name };
  }
  return {
    scope: 'organization',
    org: secret.organization ?? '',
    name,
    visibility: secret.visibility ?? 'private',
    selectedRepositories: secret.selectedRepositories ?? [],
  };
}

export const githubActionsSecret = defineTarget({
  kind: 'github-actions-secret',
  entry,
  spec: (secret) => {
    const spec = actionsSecretSpec(secret);
    return { name: describeSecret(spec), spec };
  },
  // An organization secret reaches repositories the inventory may not name: list them under `consumers`.
  consumer: ({ github, repository }) =>
    repository === undefined ? undefined : { kind: githubRepositoryRuns.kind, github, repository },
  adapter: (connection) => new GitHubActionsSecrets(new GitHubClient(connection)),
});
