import { z } from 'zod';
import { noteSecrets } from '../redaction';
import type { CredentialStore, SecretData, StoreDefinition } from './store';
import type { SecretPath } from '../vault';
import { vaultStore } from './vault';

/** Every store kind a credential can be kept in: adding one is its module plus an entry here. */
export const STORES = [vaultStore] as const;

type Definition = (typeof STORES)[number];
/** Where a credential lives, in any store: what plans and workflows carry. */
export type StoreRef = z.output<Definition['ref']>;
/** One version of a credential's secret, in any store. */
export type StoreVersion = z.output<Definition['version']>;
/** What opening every store takes from the worker: each kind's own settings. */
export type StoreSettings = Parameters<Definition['open']>[0];

const [firstStore] = STORES;
const otherStores: readonly Definition[] = STORES.slice(1);
export const storeRefSchema = z.union([firstStore.ref, ...otherStores.map((store) => store.ref)]);
export const storeVersionSchema = z.union([firstStore.version, ...otherStores.map((store) => store.version)]);
/** The inventory's `store:` entry: one per kind. */
export const storeEntrySchema = z.discriminatedUnion('kind', [
  firstStore.entry,
  ...otherStores.map((store) => store.entry),
]);
export type StoreEntry = z.output<typeof storeEntrySchema>;

/** Where the inventory's `store:` entry says a credential lives. */
export function storeRefOf(entry: StoreEntry): StoreRef {
  const definition = STORES.find((store) => store.kind === entry.kind);
  if (definition === undefined) throw new Error(`no store of kind ${entry.kind}`);
  return definition.refOf(entry);
}

/** Where a credential lives, as operators name it: "Vault kv/ci/deployer". */
export function describeStore(at: StoreRef): string {
  const definition = STORES.find((store) => store.owns(at));
  if (definition === undefined) throw new Error(`no store holds ${JSON.stringify(at)}`);
  return definition.describe(definition.ref.parse(at));
}

/** The Vault secret a credential is kept in, or undefined for a credential kept in another store. */
export function vaultSecretOf(at: StoreRef): SecretPath | undefined {
  if (!vaultStore.owns(at)) return undefined;
  const { mount, path } = vaultStore.ref.parse(at);
  return { mount, path };
}

/** The stores a worker opened, each found by the references it owns. */
export interface Stores {
  of(at: StoreRef | StoreVersion): CredentialStore<StoreRef, StoreVersion>;
}

/**
 * A store bound to its own schemas, so that a reference of another store is refused rather than misread,
 * and noting every value it reads or stages in the current activity's scope for redaction.
 */
function bound<Ref extends StoreRef, Version extends StoreVersion>(
  definition: StoreDefinition<string, z.ZodType, Ref, Version, never>,
  store: CredentialStore<Ref, Version>,
): CredentialStore<StoreRef, StoreVersion> {
  const ref = (at: StoreRef) => definition.ref.parse(at);
  const version = (at: StoreVersion) => definition.version.parse(at);
  const noted = (data: SecretData) => {
    noteSecrets(...Object.values(data));
    return data;
  };
  return {
    assertUsable: (at) => store.assertUsable(ref(at)),
    readCurrent: async (at) => {
      const current = await store.readCurrent(ref(at));
      noted(current.data);
      return current;
    },
    read: async (at) => noted(await store.read(version(at))),
    readStaged: async (at) => {
      const staged = await store.readStaged(ref(at));
      if (staged.found !== undefined) noted(staged.found.data);
      return staged;
    },
    stage: (at, data, after, requestKey) => store.stage(ref(at), noted(data), after, requestKey),
    promote: (at, staged, replacing) => store.promote(ref(at), version(staged), version(replacing)),
    rePromote: (at, previous, promotedTokenId) =>
      store.rePromote(ref(at), version(previous), promotedTokenId),
    writtenAt: (at) => store.writtenAt(version(at)),
  };
}

export function openStores(settings: StoreSettings): Stores {
  const opened = STORES.map((definition) => ({
    owns: definition.owns,
    store: bound(definition, definition.open(settings)),
  }));
  return {
    of(at) {
      const found = opened.find(({ owns }) => owns(at));
      if (found === undefined) throw new Error(`no store holds ${JSON.stringify(at)}`);
      return found.store;
    },
  };
}
