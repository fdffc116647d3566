import type { KindRegistry } from '../kinds/define';
import type { AdapterSpec } from '../providers/registry';
import type { TargetField } from '../stored-secret';
import { describeStore, type StoredField, type StoreRef } from '../stores';
import { PROVIDER_KINDS } from './providers';
import { stringAt } from './rules';
import type { Credential, Inventory } from './schema';

/** An adapter by kind, where its provider is, and its own plain parameters: what the generic activities take. */
export interface AdapterRef {
  kind: string;
  connection: { url: string; credential: StoredField; fallbackCredential?: StoredField };
  spec: unknown;
  /** A target's: the field of the secret it receives, when not the token (plans before it carry none). */
  field?: Exclude<TargetField, 'token'>;
}

/** An adapter with the name operators know its resource by, such as `project platform/web CI variable DEPLOY_TOKEN`. */
export interface NamedAdapter {
  name: string;
  ref: AdapterRef;
}

/** One credential from the inventory, as everything the rotation workflow needs; references only, no value. */
export interface RotationPlan {
  credentialId: string;
  /** The source's kind, such as `gitlab-project-access-token`. */
  kind: string;
  environment: string;
  source: NamedAdapter;
  targets: NamedAdapter[];
  dependents: NamedAdapter[];
  /**
   * The system of record: the current version, the only one consumers read, and a staged version apart from
   * it where a new value waits until it is verified and promoted. `name` is how messages name it.
   */
  store: { name: string; ref: StoreRef };
  /** Where jobs that read the credential run: the targets' own projects and repositories, and `consumers`. */
  consumers?: NamedAdapter[];
  /** A pipeline that proves the new value between distribute and promote: how long it may take, how often it is read. */
  canary?: NamedAdapter & { timeout: number; poll: number };
  policy: {
    every: number;
    rotateBefore?: number;
    /** The fixed overlap window; with `drain`, the least it lasts. */
    overlap: number;
    /** A job-aware overlap: after `overlap`, wait until no job that started before the switch runs, up to `max`. */
    drain?: { max: number; onMax: 'revoke' | 'hold'; poll: number };
    requireApproval: boolean;
    approvalTimeout: number;
    /** A break-glass rotation waits for an approver's signed acknowledgement before it closes. */
    breakGlassReview?: boolean;
  };
}

/** A credential the inventory cannot turn into a plan: the message names the credential and entry. */
export class PlanError extends Error {
  override readonly name = 'PlanError';
}

type Entry =
  | Credential['source']
  | Credential['targets'][number]
  | Credential['dependents'][number]
  | Credential['consumers'][number]
  | NonNullable<Credential['canary']>;

export function rotationPlan(
  inventory: Inventory,
  credentialId: string,
  registry: KindRegistry,
): RotationPlan {
  const credential = inventory.credentials.find((entry) => entry.id === credentialId);
  if (credential === undefined) {
    throw new PlanError(`credential "${credentialId}" is not in the inventory`);
  }
  const adapter = (
    kinds: ReadonlyMap<string, { specOf(entry: { kind: string }): AdapterSpec | undefined }>,
    entry: Entry,
    where: string,
  ): NamedAdapter => {
    const adapted = kinds.get(entry.kind)?.specOf(entry);
    if (adapted === undefined) {
      throw new PlanError(`credential "${credentialId}" ${where}: kind ${entry.kind} cannot be rotated yet`);
    }
    const { name, spec, connection } = adapted;
    return {
      name,
      ref: { kind: entry.kind, connection: connection ?? connectionOf(inventory, entry), spec },
    };
  };
  return {
    credentialId,
    kind: credential.source.kind,
    environment: credential.environment,
    source: adapter(registry.sources, credential.source, 'source'),
    targets: credential.targets.map((target, index) => {
      const named = adapter(registry.targets, target, `targets[${index}]`);
      // A target of the token carries no field, as every plan before `field` did.
      return target.field === 'token' ? named : { ...named, ref: { ...named.ref, field: target.field } };
    }),
    dependents: credential.dependents.map((dependent, index) =>
      adapter(registry.dependents, dependent, `dependents[${index}]`),
    ),
    // Only a job-aware overlap reads them; plans without one carry none, as 0.2.0's did.
    ...(credential.policy.drain === undefined
      ? {}
      : { consumers: consumersOf(credential, adapter, registry) }),
    // Only plans with a canary carry one: no history from before canaries takes that step.
    ...(credential.canary === undefined
      ? {}
      : {
          canary: {
            ...adapter(registry.canaries, credential.canary, 'canary'),
            timeout: credential.canary.timeout,
            poll: credential.canary.poll,
          },
        }),
    store: { name: describeStore(credential.store), ref: credential.store },
    policy: credential.policy,
  };
}

/** The consumers `consumers` lists and those of the targets, each once (by the name operators know it by). */
function consumersOf(
  credential: Credential,
  adapter: (kinds: KindRegistry['consumers'], entry: Entry, where: string) => NamedAdapter,
  registry: KindRegistry,
): NamedAdapter[] {
  const listed = credential.consumers.map((consumer, index) =>
    adapter(registry.consumers, consumer, `consumers[${index}]`),
  );
  const ofTargets = credential.targets.flatMap((target, index) => {
    const consumer = registry.consumerOf(target);
    return consumer === undefined
      ? []
      : [adapter(registry.consumers, consumer as Entry, `targets[${index}]`)];
  });
  const byName = new Map([...listed, ...ofTargets].map((consumer) => [consumer.name, consumer]));
  if (byName.size === 0)
    throw new PlanError(
      `credential "${credential.id}" policy.overlap: until jobs-drained needs jobs to watch, and no target is a ` +
        'project variable or repository secret: list the projects or repositories under consumers',
    );
  return [...byName.values()];
}

/** An entry names its provider in a field called after the provider's kind (`gitlab: gitlab-main`). */
function connectionOf(inventory: Inventory, entry: Entry): AdapterRef['connection'] {
  for (const kind of PROVIDER_KINDS) {
    const name = stringAt(entry, kind);
    const provider = name === undefined ? undefined : inventory.providers[kind][name];
    if (provider !== undefined) {
      const { credential, fallbackCredential } = provider;
      // GitLab names its address `url`, GitHub `apiUrl`.
      const url = 'url' in provider ? provider.url : provider.apiUrl;
      return fallbackCredential === undefined ? { url, credential } : { url, credential, fallbackCredential };
    }
  }
  throw new PlanError(`${entry.kind} names no provider`);
}
