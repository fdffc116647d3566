import type { ProviderRegistry } from '../providers/registry';
import { GitHubActionsSecrets } from './actions-secrets';
import { GitHubClient } from './client';
import { actionsSecret } from './specs';

/** GitHub's adapters under the inventory's kinds: so far the one target. */
export const githubProviders: ProviderRegistry = {
  sources: {},
  targets: {
    'github-actions-secret': (connection) => new GitHubActionsSecrets(new GitHubClient(connection)),
  },
  dependents: {},
  specs: { 'github-actions-secret': actionsSecret },
};
