import type { z } from 'zod';
import type { AdapterSpec, ProviderConnection } from '../providers/registry';
import type { CredentialSource, CredentialTarget, Dependent } from '../providers/types';

/** An inventory entry's schema: a strict object whose `kind` is one literal. */
type EntrySchema<Kind extends string> = z.ZodType<{ kind: Kind }>;

/**
 * One kind of source, target or dependent, defined once: its inventory entry, the plain spec the workflow
 * carries for it (with the name operators know it by), and its adapter. `Spec` ties the last two together,
 * so a mapping whose spec the adapter does not take is a compile error.
 */
export interface KindDefinition<Kind extends string, Entry extends EntrySchema<Kind>, Spec, Adapter> {
  kind: Kind;
  entry: Entry;
  spec(entry: z.output<Entry>): AdapterSpec<Spec>;
  adapter(connection: ProviderConnection): Adapter;
}

export function defineSource<Kind extends string, Entry extends EntrySchema<Kind>, Spec>(
  definition: KindDefinition<Kind, Entry, Spec, CredentialSource<Spec>>,
) {
  return definition;
}

export function defineTarget<Kind extends string, Entry extends EntrySchema<Kind>, Spec>(
  definition: KindDefinition<Kind, Entry, Spec, CredentialTarget<Spec>>,
) {
  return definition;
}

export function defineDependent<Kind extends string, Entry extends EntrySchema<Kind>, Spec>(
  definition: KindDefinition<Kind, Entry, Spec, Dependent<Spec>>,
) {
  return definition;
}

/** A kind as the activities meet it: by name, with a spec that arrives from a workflow history. */
export interface RegisteredKind<Adapter> {
  /** The entry's spec, or undefined when the entry is of another kind. */
  specOf(entry: { kind: string }): AdapterSpec | undefined;
  adapter(connection: ProviderConnection): Adapter;
}

/** A kind of any spec: each kind's spec type is its own, known only to its own module. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKind<Adapter = unknown> = KindDefinition<string, EntrySchema<string>, any, Adapter>;

/** The adapters by kind: what the activities and the plan look kinds up in. */
export interface KindRegistry {
  sources: ReadonlyMap<string, RegisteredKind<CredentialSource<unknown>>>;
  targets: ReadonlyMap<string, RegisteredKind<CredentialTarget<unknown>>>;
  dependents: ReadonlyMap<string, RegisteredKind<Dependent<unknown>>>;
}

function registered<Adapter>(
  kinds: readonly AnyKind<Adapter>[],
): ReadonlyMap<string, RegisteredKind<Adapter>> {
  return new Map(
    kinds.map((definition) => [
      definition.kind,
      {
        // The inventory schema's discriminated union validated the entry for this kind.
        specOf: (entry: { kind: string }) =>
          entry.kind === definition.kind
            ? definition.spec(entry as z.output<typeof definition.entry>)
            : undefined,
        adapter: (connection: ProviderConnection) => definition.adapter(connection),
      },
    ]),
  );
}

/** The registry of these kinds. */
export function kindRegistry(kinds: {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sources: readonly AnyKind<CredentialSource<any>>[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  targets: readonly AnyKind<CredentialTarget<any>>[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  dependents: readonly AnyKind<Dependent<any>>[];
}): KindRegistry {
  return {
    sources: registered<CredentialSource<unknown>>(kinds.sources),
    targets: registered<CredentialTarget<unknown>>(kinds.targets),
    dependents: registered<Dependent<unknown>>(kinds.dependents),
  };
}

/** The inventory entry schemas of a list of kinds, as the tuple `z.discriminatedUnion` takes. */
export function entriesOf<Kinds extends readonly [AnyKind, ...AnyKind[]]>(kinds: Kinds) {
  return kinds.map(({ entry }) => entry) as unknown as { [I in keyof Kinds]: Kinds[I]['entry'] };
}
