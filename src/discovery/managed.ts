import type { Inventory } from '../inventory/schema';
import type { Found, FoundOwner } from './types';

type Entry = Record<string, unknown>;

/** A project or group the inventory names by id or by path (GitLab finds paths whatever their case). */
function sameNamespace(owner: FoundOwner, named: unknown): boolean {
  if (!('path' in owner)) return false;
  if (typeof named === 'number') return named === owner.id;
  return typeof named === 'string' && named.toLowerCase() === owner.path.toLowerCase();
}

/** Whether an inventory entry (a source or a target) is the found token or variable. */
function names(entry: Entry, found: Found): boolean {
  if (entry.kind !== found.kind) return false;
  // Each entry names its provider in the field of the provider's type.
  if (entry[found.kind.startsWith('github-') ? 'github' : 'gitlab'] !== found.provider) return false;
  const { owner } = found;
  switch (found.kind) {
    case 'gitlab-project-access-token':
    case 'gitlab-group-access-token':
    case 'gitlab-project-deploy-token':
    case 'gitlab-group-deploy-token':
      return (
        entry.tokenName === found.name &&
        sameNamespace(owner, owner.scope === 'project' ? entry.project : entry.group)
      );
    case 'gitlab-pipeline-trigger-token':
      return entry.description === found.name && sameNamespace(owner, entry.project);
    case 'gitlab-service-account-token':
      return (
        entry.tokenName === found.name &&
        owner.scope === 'service-account' &&
        entry.serviceAccount === owner.userId &&
        sameNamespace(owner, entry.group)
      );
    case 'gitlab-personal-access-token':
      return entry.tokenName === found.name && owner.scope === 'user' && entry.user === owner.id;
    case 'gitlab-ci-variable':
      // GitLab variable keys are case-sensitive; the environment scope tells apart variables sharing a key.
      return (
        entry.key === found.name &&
        (entry.environmentScope ?? '*') === (found.environmentScope ?? '*') &&
        sameNamespace(owner, owner.scope === 'project' ? entry.project : entry.group)
      );
    case 'github-actions-secret': {
      // GitHub secret names, repositories and organizations ignore case.
      const same = (a: unknown, b: string) => typeof a === 'string' && a.toLowerCase() === b.toLowerCase();
      const where =
        owner.scope === 'repository'
          ? entry.environment === undefined && same(entry.repository, owner.repository)
          : owner.scope === 'organization' && same(entry.organization, owner.organization);
      return where && same(entry.name, found.name);
    }
    default:
      // A kind a new lister adds gets its case here, beside its inventory kind; until then it shows unmanaged.
      return false;
  }
}

/**
 * Marks what the inventory already manages: a token is managed when a credential's source names it (same
 * kind, provider, project, group or user, and token name), a variable or secret when a credential's target
 * does (same place and key or name).
 */
export function markManaged(inventory: Pick<Inventory, 'credentials'>, found: Found[]): Found[] {
  return found.map((item) => {
    const owner = inventory.credentials.find((credential) =>
      item.role === 'token'
        ? names(credential.source as Entry, item)
        : credential.targets.some((target) => names(target as Entry, item)),
    );
    return owner === undefined ? item : { ...item, managedBy: owner.id };
  });
}
