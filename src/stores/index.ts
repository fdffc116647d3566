import { z } from 'zod';
import { noteSecrets } from '../redaction';
import type { CredentialStore, SecretData, StoreDefinition } from './store';
import { secretFieldSchema, type SecretField, type SecretPath } from '../vault';
import { awsSecretsManagerStore } from './aws-secrets-manager';
import { vaultStore } from './vault';

/** Every store kind a credential can be kept in: adding one is its module plus an entry here. */
export const STORES = [vaultStore, awsSecretsManagerStore] as const;

type Definition = (typeof STORES)[number];
/** Where a credential lives, in any store: what plans and workflows carry. */
export type StoreRef = z.output<Definition['ref']>;
/** One version of a credential's secret, in any store. */
export type StoreVersion = z.output<Definition['version']>;
type Intersection<U> = (U extends unknown ? (each: U) => void : never) extends (all: infer I) => void
  ? I
  : never;
/** What opening every store takes from the worker: each kind's own settings, together. */
export type StoreSettings = Intersection<Parameters<Definition['open']>[0]>;

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

/** A store of any kind: each kind's references are its own, known to its module and checked by its schemas. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStore = StoreDefinition<string, z.ZodType, any, any, any>;

/**
 * A store kind as the rest of the worker meets it: references checked by its own schemas, so that a
 * reference of another store is refused rather than misread.
 */
function registered(definition: AnyStore) {
  return {
    kind: definition.kind,
    owns: (at: object) => definition.owns(at),
    refOf: (entry: StoreEntry): StoreRef => definition.refOf(definition.entry.parse(entry)),
    describe: (at: StoreRef | StoreVersion) => definition.describe(definition.ref.parse(at)),
    open: (settings: StoreSettings) => bound(definition, definition.open(settings)),
  };
}
const REGISTERED = STORES.map(registered);

function registeredFor(at: StoreRef | StoreVersion) {
  const found = REGISTERED.find(({ owns }) => owns(at));
  if (found === undefined) throw new Error(`no store holds ${JSON.stringify(at)}`);
  return found;
}

/** Where the inventory's `store:` entry says a credential lives. */
export function storeRefOf(entry: StoreEntry): StoreRef {
  const definition = REGISTERED.find(({ kind }) => kind === entry.kind);
  if (definition === undefined) throw new Error(`no store of kind ${entry.kind}`);
  return definition.refOf(entry);
}

/** Where a credential lives, as operators name it: "Vault kv/ci/deployer". */
export function describeStore(at: StoreRef | StoreVersion): string {
  return registeredFor(at).describe(at);
}

/**
 * A field of a secret the worker only reads (a provider's admin token, an OAuth2 client secret), as the
 * inventory names it: Vault's `{ mount, path, key }`, or `{ store: <a store: entry>, key }` in another store.
 */
export const storedFieldEntrySchema = z
  .object({
    mount: secretFieldSchema.shape.mount.optional(),
    path: secretFieldSchema.shape.path.optional(),
    store: storeEntrySchema.optional(),
    key: secretFieldSchema.shape.key,
  })
  .strict()
  .check((context) => {
    const { mount, path, store } = context.value;
    const missing =
      store !== undefined ? [] : (['mount', 'path'] as const).filter((field) => !context.value[field]);
    for (const field of missing)
      context.issues.push({
        code: 'custom',
        path: [field],
        message: 'required: expected string',
        input: context.value,
      });
    if (store !== undefined && (mount !== undefined || path !== undefined))
      context.issues.push({
        code: 'custom',
        path: ['store'],
        message: 'names a second place: keep either mount and path (Vault) or store',
        input: context.value,
      });
  })
  .transform(({ mount, path, store, key }): StoredField =>
    store === undefined ? { mount: mount ?? '', path: path ?? '', key } : { store: storeRefOf(store), key },
  );
/** The same field as plans and activities carry it: the store's entry turned into its reference. */
export const storedFieldSchema = z.union([
  secretFieldSchema,
  z.object({ store: storeRefSchema, key: z.string().min(1) }).strict(),
]);
export type StoredField = z.output<typeof storedFieldSchema>;

/** The Vault field a stored field names, or undefined for one in another store. */
export function vaultFieldOf(field: StoredField): SecretField | undefined {
  return 'store' in field ? undefined : field;
}

/** The Vault secret a credential is kept in, or undefined for a credential kept in another store. */
export function vaultSecretOf(at: StoreRef | StoreVersion): SecretPath | undefined {
  if (!vaultStore.owns(at) || !('mount' in at)) return undefined;
  return { mount: at.mount, path: at.path };
}

/** The stores a worker opened, each found by the references it owns. */
export interface Stores {
  of(at: StoreRef | StoreVersion): CredentialStore<StoreRef, StoreVersion>;
}

/**
 * A store bound to its own schemas, so that a reference of another store is refused rather than misread,
 * and noting every value it reads or stages in the current activity's scope for redaction.
 */
function bound(
  definition: AnyStore,
  store: CredentialStore<StoreRef, StoreVersion>,
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
    readPrevious: async (at) => {
      const previous = await store.readPrevious(version(at));
      if (previous !== undefined) noted(previous.data);
      return previous;
    },
    amend: (at, fields) => store.amend(version(at), noted(fields)),
    writtenAt: (at) => store.writtenAt(version(at)),
    replicationProblems: async (at) => (await store.replicationProblems?.(ref(at))) ?? [],
  };
}

export function openStores(settings: StoreSettings): Stores {
  const opened = REGISTERED.map(({ owns, open }) => ({ owns, store: open(settings) }));
  return {
    of(at) {
      const found = opened.find(({ owns }) => owns(at));
      if (found === undefined) throw new Error(`no store holds ${JSON.stringify(at)}`);
      return found.store;
    },
  };
}
