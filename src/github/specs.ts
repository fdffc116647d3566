import type { z } from 'zod';
import type { githubActionsSecret } from '../inventory/targets/github-actions-secret';
import type { AdapterSpec } from '../providers/registry';
import { describeSecret, type ActionsSecretSpec } from './scopes';

/** The inventory's `github-actions-secret` entry as the adapter's spec, with the name operators see. */
export function actionsSecret(entry: z.output<typeof githubActionsSecret>): AdapterSpec<ActionsSecretSpec> {
  const { name } = entry;
  let spec: ActionsSecretSpec;
  if (entry.repository !== undefined) {
    const [owner = '', repo = ''] = entry.repository.split('/');
    spec =
      entry.environment === undefined
        ? { scope: 'repository', owner, repo, name }
        : { scope: 'environment', owner, repo, environment: entry.environment, name };
  } else {
    spec = {
      scope: 'organization',
      org: entry.organization ?? '',
      name,
      visibility: entry.visibility ?? 'private',
      selectedRepositories: entry.selectedRepositories ?? [],
    };
  }
  return { name: describeSecret(spec), spec };
}
