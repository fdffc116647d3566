import type { Watched } from '../inventory/discovery';
import type { Inventory } from '../inventory/schema';
import type { ProviderConnection } from '../providers/registry';
import type { StoredField } from '../stores';
import { discoverGitHub } from './github';
import { discoverGitLab } from './gitlab';
import { markManaged } from './managed';
import { merged, ownerLabel, type Found, type Listing } from './types';

export type { Found, Listing } from './types';

/** Reads one field of a store (an admin token): the caller's stores, never logged. */
export type FieldReader = (at: StoredField) => Promise<string>;

/** How the provider an entry names is reached, its admin token read through `read`. */
async function connectionOf(
  inventory: Pick<Inventory, 'providers'>,
  watched: Watched,
  read: FieldReader,
): Promise<ProviderConnection> {
  const provider =
    'gitlab' in watched
      ? inventory.providers.gitlab[watched.gitlab]
      : inventory.providers.github[watched.github];
  if (provider === undefined) throw new Error(`no provider ${JSON.stringify(watched)} in the inventory`);
  const url = 'url' in provider ? provider.url : provider.apiUrl;
  return {
    url,
    token: await read(provider.credential),
    ...(provider.fallbackCredential === undefined
      ? {}
      : { fallbackToken: await read(provider.fallbackCredential) }),
  };
}

/** Tokens first, then by provider, place and name: the order of the table and of `--select` numbers. */
function byPlace(a: Found, b: Found): number {
  const key = (found: Found) =>
    [found.role === 'token' ? 0 : 1, found.provider, found.kind, ownerLabel(found.owner), found.name].join(
      '\u0000',
    );
  return key(a).localeCompare(key(b));
}

/** What one group, organization or repository holds, each item marked managed when a credential names it. */
export async function discover(
  inventory: Pick<Inventory, 'providers' | 'credentials'>,
  watched: Watched,
  read: FieldReader,
): Promise<Listing> {
  const connection = await connectionOf(inventory, watched, read);
  const listing =
    'gitlab' in watched
      ? await discoverGitLab(watched.gitlab, connection, String(watched.group))
      : await discoverGitHub(watched.github, connection, watched);
  return { found: markManaged(inventory, listing.found).sort(byPlace), notListed: listing.notListed };
}

/** Everything the inventory's `discovery.watch` holds, one entry after another. */
export async function discoverWatched(inventory: Inventory, read: FieldReader): Promise<Listing> {
  const listings: Listing[] = [];
  for (const watched of inventory.discovery.watch) listings.push(await discover(inventory, watched, read));
  return merged(listings);
}
