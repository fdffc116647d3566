import { z } from 'zod';
import { ROTATED_FIELDS } from '../stored-secret';
import { secretPathSchema, VaultError, type SecretPath, type VaultKv } from '../vault';
import { defineStore, isStoreFailure, StoreError, type CredentialStore, type SecretData } from './store';

/**
 * A credential's secret in Vault KV v2. `store` may be left out: every reference written before there was
 * another store is a Vault one.
 */
export const vaultSecretRefSchema = secretPathSchema
  .extend({ store: z.literal('vault').optional() })
  .strict();
export const vaultSecretVersionSchema = vaultSecretRefSchema
  .extend({ version: z.number().int().positive() })
  .strict();
export type VaultSecretRef = z.infer<typeof vaultSecretRefSchema>;
export type VaultSecretVersion = z.infer<typeof vaultSecretVersionSchema>;

/** The staged value lives below the current secret's path, so one Vault policy covers both. */
export function stagedPath(at: SecretPath): SecretPath {
  return { mount: at.mount, path: `${at.path}/staged` };
}

const pathOf = ({ mount, path }: SecretPath): SecretPath => ({ mount, path });
const versionOf = (at: SecretPath, version: number): VaultSecretVersion => ({ ...pathOf(at), version });
const describe = (at: SecretPath) => `Vault ${at.mount}/${at.path}`;

/** KV v2 check-and-set refused: Vault answers 400 when the version is not the one named. */
const casLost = (error: unknown) => error instanceof VaultError && error.status === 400;

/** Vault's side of the store seam: a current path with its versions, and a staged path below it. */
export function vaultCredentialStore(kv: VaultKv): CredentialStore<VaultSecretRef, VaultSecretVersion> {
  const readMaybe = (at: SecretPath) =>
    kv.read(at).catch((error: unknown) => {
      if (isStoreFailure(error, 'not-found')) return undefined;
      throw error;
    });
  const read = async (version: VaultSecretVersion): Promise<SecretData> =>
    (await kv.read(pathOf(version), version.version)).data;
  return {
    assertUsable: (at) => kv.assertKvV2(at.mount),

    async readCurrent(at) {
      const { data, ref } = await kv.read(pathOf(at));
      return { data, version: ref };
    },

    read,

    async readStaged(at) {
      const staged = await readMaybe(stagedPath(at));
      return staged === undefined
        ? { mark: 0 }
        : { mark: staged.ref.version, found: { data: staged.data, version: staged.ref } };
    },

    async stage(at, data, after) {
      const where = stagedPath(at);
      try {
        const written = await kv.write(where, data, { cas: Number(after) });
        return { version: written, mark: written.version };
      } catch (error) {
        if (!casLost(error)) throw error;
        throw new StoreError(
          `${describe(where)} changed while a new value was being staged (expected v${after}): not overwritten`,
          'conflict',
        );
      }
    },

    async promote(at, staged, replacing) {
      const current = pathOf(at);
      const data = await read(staged);
      const replaced = await read(replacing);
      const kept = Object.entries(replaced).filter(([field]) => !ROTATED_FIELDS.includes(field));
      try {
        return await kv.write(current, { ...Object.fromEntries(kept), ...data }, { cas: replacing.version });
      } catch (error) {
        if (!casLost(error)) throw error;
        // A retry after a lost answer finds its own write in place.
        const now = await kv.read(current);
        if (now.ref.version === replacing.version + 1 && now.data.tokenId === data.tokenId) return now.ref;
        throw new StoreError(
          `${describe(at)} is at v${now.ref.version}, not v${replacing.version} as read at detect: ` +
            'someone else changed it, so it is not overwritten',
          'conflict',
        );
      }
    },

    async rePromote(at, previous, promotedTokenId) {
      const now = await kv.read(pathOf(at));
      if (now.data.tokenId !== promotedTokenId) return now.ref;
      return kv.write(pathOf(at), await read(previous), { cas: now.ref.version });
    },

    async readPrevious(current) {
      if (current.version <= 1) return undefined;
      const version = versionOf(current, current.version - 1);
      // Deleted or destroyed: the store no longer has it.
      const data = await read(version).catch((error: unknown) => {
        if (isStoreFailure(error, 'not-found')) return undefined;
        throw error;
      });
      return data === undefined ? undefined : { data, version };
    },

    async amend(current, fields) {
      const data = await read(current);
      try {
        return await kv.write(pathOf(current), { ...data, ...fields }, { cas: current.version });
      } catch (error) {
        if (!casLost(error)) throw error;
        throw new StoreError(
          `${describe(current)} is no longer at v${current.version}: someone else changed it, so it is not overwritten`,
          'conflict',
        );
      }
    },

    writtenAt: (version) => kv.writtenAt(versionOf(version, version.version)),
  };
}

/** A credential kept in Vault: `vault: { mount, path }` in the inventory, or `store: { kind: vault, … }`. */
export const vaultStore = defineStore({
  kind: 'vault',
  entry: secretPathSchema.extend({ kind: z.literal('vault') }).strict(),
  refOf: ({ mount, path }): VaultSecretRef => ({ mount, path }),
  describe,
  ref: vaultSecretRefSchema,
  version: vaultSecretVersionSchema,
  owns: (refOrVersion) => !('store' in refOrVersion) || refOrVersion.store === 'vault',
  open: ({ vault }: { vault: VaultKv }) => vaultCredentialStore(vault),
});
