import { AsyncLocalStorage } from 'node:async_hooks';
import { z } from 'zod';
import type { AuditSink } from '../src/audit';
import type { KindRegistry } from '../src/kinds/define';
import { AdminSecrets } from '../src/providers/admin-secrets';
import { ProviderError } from '../src/providers/errors';
import type { TokenId } from '../src/providers/types';
import type { ProviderConnection } from '../src/providers/registry';
import { noteSecrets } from '../src/redaction';
import { TARGET_FIELDS } from '../src/stored-secret';
import {
  describeStore,
  storedFieldSchema,
  type StoredField,
  type StoreVersion,
  type Stores,
} from '../src/stores';
import { StoreError } from '../src/stores/store';
import { versionLabel } from '../src/stores/labels';
import { VaultError, type VaultKv } from '../src/vault';
import { auditContextSchema, auditRecorder } from './audit';
import { asActivity, checkedActivity } from './failures';

/** Where a provider is and where Vault keeps its admin token (and an optional fallback). */
const connectionRefSchema = z
  .object({ url: z.url(), credential: storedFieldSchema, fallbackCredential: storedFieldSchema.optional() })
  .strict();
/**
 * An adapter by kind, its connection, and its own parameters (checked by the adapter's types); a target's
 * `field` names the field of the secret it receives, the token when absent (as in every older history).
 */
export const adapterRefSchema = z
  .object({
    kind: z.string().min(1),
    connection: connectionRefSchema,
    spec: z.unknown(),
    field: z.enum(TARGET_FIELDS).optional(),
  })
  .strict();
export type AdapterRef = z.infer<typeof adapterRefSchema>;
/** A token id as sources name it; a 0.2.0 history carries GitLab's and OAuth2's as numbers. */
export const tokenIdSchema = z
  .union([z.string().min(1).max(256), z.number().int().positive()])
  .transform((id): TokenId => String(id));
/** Steps that change something take an audit context and record themselves once they succeed. */
export const audited = { audit: auditContextSchema.optional() };
/** The field of a staged or current secret that holds the credential's value. */
export const VALUE_KEY = 'token';

/** Reads a field the worker only reads (an admin token, a client secret), in Vault or another store. */
export function storedFieldReader({ vault, stores }: { vault: VaultKv; stores: Stores }) {
  return async (at: StoredField): Promise<string> => {
    if (!('store' in at)) {
      const { data, ref } = await vault.read(at);
      const value = data[at.key];
      if (value === undefined)
        throw new VaultError(
          `Vault ${at.mount}/${at.path} v${ref.version} has no field "${at.key}"`,
          404,
          false,
        );
      return value;
    }
    const { data, version } = await stores.of(at.store).readCurrent(at.store);
    const value = data[at.key];
    if (value === undefined) {
      throw new StoreError(
        `${describeStore(at.store)} ${versionLabel(version)} has no field "${at.key}"`,
        'not-found',
      );
    }
    return value;
  };
}

/** The admin tokens an activity connected with, by field: what a refusal is checked against. */
type AdminTokensUsed = Map<string, { at: StoredField; value: string }>;
const adminTokensUsed = new AsyncLocalStorage<AdminTokensUsed>();

export interface ProviderCallDependencies {
  /** Where admin tokens are kept. */
  vault: VaultKv;
  /** Where credentials are kept. */
  stores: Stores;
  providers: KindRegistry;
  audit: AuditSink;
  /** The admin tokens read so far; shared with the activity that promotes, which forgets them. */
  adminSecrets?: AdminSecrets;
}

/**
 * What every provider activity needs: adapters looked up by kind and connected with an admin token read
 * from Vault, values read by reference, the audit recorder, and `activity` to declare one by its schema.
 */
export function providerCalls({
  vault,
  stores,
  providers,
  audit,
  adminSecrets = new AdminSecrets(storedFieldReader({ vault, stores })),
}: ProviderCallDependencies) {
  /** The current secret, read only for a source whose state lives there. */
  const heldBy = async (source: { keepsStateInStore?: true }, held: StoreVersion | undefined) =>
    source.keepsStateInStore && held !== undefined ? stores.of(held).read(held) : undefined;
  /** The value a version of a credential's secret holds, or another of its fields (a deploy token's username). */
  const valueAt = async (at: StoreVersion, field: string = VALUE_KEY): Promise<string> => {
    const value = (await stores.of(at).read(at))[field];
    if (value === undefined) {
      throw new VaultError(`${describeStore(at)} ${versionLabel(at)} has no field "${field}"`, 404, false);
    }
    return value;
  };

  /** A cached admin token is not read through the store, so this activity's redaction is told of it here. */
  const adminSecret = async (at: StoredField) => {
    const value = await adminSecrets.get(at);
    noteSecrets(value);
    adminTokensUsed.getStore()?.set(JSON.stringify(at), { at, value });
    return value;
  };
  const connect = async ({ connection }: AdapterRef): Promise<ProviderConnection> => ({
    url: connection.url,
    token: await adminSecret(connection.credential),
    fallbackToken:
      connection.fallbackCredential === undefined
        ? undefined
        : await adminSecret(connection.fallbackCredential),
  });
  /** Whether an admin token this activity used is no longer the one its store holds. */
  const replaced = async (used: AdminTokensUsed) => {
    for (const { at, value } of used.values()) {
      if ((await adminSecrets.get(at).catch(() => value)) !== value) return true;
    }
    return false;
  };
  /**
   * An activity that talks to a provider: an admin token the provider refused is read from its store again.
   * When the store holds another token by then (the admin token was rotated, and this process still held the
   * old one), the refusal is transient: the next attempt connects with the new token.
   */
  const providerActivity = <T>(body: () => Promise<T>): Promise<T> =>
    asActivity(() => {
      const used: AdminTokensUsed = new Map();
      return adminTokensUsed.run(used, body).catch(async (error: unknown) => {
        if (!(error instanceof ProviderError) || error.kind !== 'auth') throw error;
        adminSecrets.forget();
        if (!(await replaced(used))) throw error;
        const { provider, step, resource, status } = error;
        throw new ProviderError({
          provider,
          step,
          resource,
          status,
          kind: 'transient',
          reason: `${error.reason}; the admin token was replaced in the meantime, so the next attempt uses the new one`,
        });
      });
    });

  const adapter = async <A>(
    kinds: ReadonlyMap<string, { adapter(connection: ProviderConnection): A }>,
    ref: AdapterRef,
    role: string,
  ) => {
    const kind = kinds.get(ref.kind);
    if (kind === undefined)
      throw new ProviderError({
        provider: ref.kind,
        step: 'lookup',
        resource: role,
        kind: 'permanent',
        reason: `no ${role} of kind "${ref.kind}"`,
      });
    return kind.adapter(await connect(ref));
  };
  const sourceAdapter = (ref: AdapterRef) => adapter(providers.sources, ref, 'credential source');

  return {
    stores,
    audit,
    record: auditRecorder(audit),
    activity: checkedActivity(providerActivity),
    valueAt,
    sourceAdapter,
    targetAdapter: (ref: AdapterRef) => adapter(providers.targets, ref, 'target'),
    dependentAdapter: (ref: AdapterRef) => adapter(providers.dependents, ref, 'dependent'),
    consumerAdapter: (ref: AdapterRef) => adapter(providers.consumers, ref, 'consumer'),
    canaryAdapter: (ref: AdapterRef) => adapter(providers.canaries, ref, 'canary'),
    /** The credential source of `ref`, and the current secret for a source whose state lives in the store. */
    sourceOf: async (ref: AdapterRef, held: StoreVersion | undefined) => {
      const source = await sourceAdapter(ref);
      return { source, heldSecret: await heldBy(source, held) };
    },
  };
}

export type ProviderCalls = ReturnType<typeof providerCalls>;
