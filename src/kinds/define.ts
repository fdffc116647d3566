import type { z } from 'zod';
import type { AdapterSpec, ProviderConnection } from '../providers/registry';
import type { Canary, Consumer, CredentialSource, CredentialTarget, Dependent } from '../providers/types';
import type { TargetField } from '../stored-secret';

/** An inventory entry's schema: a strict object whose `kind` is one literal. */
type EntrySchema<Kind extends string> = z.ZodType<{ kind: Kind }>;

/**
 * One kind of source, target, dependent, consumer or canary, defined once: its inventory entry, the plain spec the workflow
 * carries for it (with the name operators know it by), and its adapter. `Spec` ties the last two together,
 * so a mapping whose spec the adapter does not take is a compile error.
 */
export interface KindDefinition<Kind extends string, Entry extends EntrySchema<Kind>, Spec, Adapter> {
  kind: Kind;
  entry: Entry;
  spec(entry: z.output<Entry>): AdapterSpec<Spec>;
  adapter(connection: ProviderConnection): Adapter;
}

/**
 * A source, and the fields its secret holds beside the value that a target may receive instead
 * (`targetFields`, such as a deploy token's `username`); a target's `field` naming another is refused at load.
 */
export function defineSource<Kind extends string, Entry extends EntrySchema<Kind>, Spec>(
  definition: KindDefinition<Kind, Entry, Spec, CredentialSource<Spec>> & {
    targetFields?: readonly Exclude<TargetField, 'token'>[];
  },
) {
  return definition;
}

/**
 * A target, and where the jobs that read it run (`consumer`): the consumer kind's inventory entry for it, or
 * undefined when no API lists those jobs (a GitLab group's variable, a GitHub organization's secret). Every
 * target entry carries `field` (targetField in src/inventory/fields.ts): which field of the secret it receives,
 * which the plan carries and the activities read whatever the kind.
 */
export function defineTarget<
  Kind extends string,
  Entry extends z.ZodType<{ kind: Kind; field: TargetField }>,
  Spec,
  ConsumerEntry,
>(
  definition: KindDefinition<Kind, Entry, Spec, CredentialTarget<Spec>> & {
    consumer(entry: z.output<Entry>): ConsumerEntry | undefined;
  },
) {
  return definition;
}

export function defineDependent<Kind extends string, Entry extends EntrySchema<Kind>, Spec>(
  definition: KindDefinition<Kind, Entry, Spec, Dependent<Spec>>,
) {
  return definition;
}

export function defineConsumer<Kind extends string, Entry extends EntrySchema<Kind>, Spec>(
  definition: KindDefinition<Kind, Entry, Spec, Consumer<Spec>>,
) {
  return definition;
}

/**
 * A canary: a pipeline that proves the new value where it is used. Every canary entry carries `timeout` and
 * `poll` beside its own fields (canaryTiming), which the plan reads whatever the kind.
 */
export function defineCanary<
  Kind extends string,
  Entry extends z.ZodType<{ kind: Kind; timeout: number; poll: number }>,
  Spec,
>(definition: KindDefinition<Kind, Entry, Spec, Canary<Spec>>) {
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
  consumers: ReadonlyMap<string, RegisteredKind<Consumer<unknown>>>;
  canaries: ReadonlyMap<string, RegisteredKind<Canary<unknown>>>;
  /** The consumer entry a target's jobs are found by, if any (see defineTarget). */
  consumerOf(target: { kind: string }): { kind: string } | undefined;
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

/** A target of any spec, with the consumer entry of its own entry (the kind's own type, known only to it). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTarget = AnyKind<CredentialTarget<any>> & { consumer(entry: any): { kind: string } | undefined };

/** The registry of these kinds. */
export function kindRegistry(kinds: {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sources: readonly AnyKind<CredentialSource<any>>[];
  targets: readonly AnyTarget[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  dependents: readonly AnyKind<Dependent<any>>[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  consumers: readonly AnyKind<Consumer<any>>[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  canaries: readonly AnyKind<Canary<any>>[];
}): KindRegistry {
  return {
    sources: registered<CredentialSource<unknown>>(kinds.sources),
    targets: registered<CredentialTarget<unknown>>(kinds.targets),
    dependents: registered<Dependent<unknown>>(kinds.dependents),
    consumers: registered<Consumer<unknown>>(kinds.consumers),
    canaries: registered<Canary<unknown>>(kinds.canaries),
    // The inventory schema's discriminated union validated the target for its kind.
    consumerOf: (target) => kinds.targets.find(({ kind }) => kind === target.kind)?.consumer(target),
  };
}

/** The inventory entry schemas of a list of kinds, as the tuple `z.discriminatedUnion` takes. */
export function entriesOf<Kinds extends readonly [AnyKind, ...AnyKind[]]>(kinds: Kinds) {
  return kinds.map(({ entry }) => entry) as unknown as { [I in keyof Kinds]: Kinds[I]['entry'] };
}
