import { z } from 'zod';
import type { AuditSink } from '../src/audit';
import { createAlertActivities, type AlertSettings } from './alerts';
import { createApprovalActivities } from './approval';
import { createBreakGlassActivities } from './break-glass';
import { createCredentialActivities } from './credentials';
import { createDiscoveryActivities } from './discovery';
import { asActivity } from './failures';
import { createHealthActivities } from './health';
import { storedFieldReader } from './provider-calls';
import { AdminSecrets } from '../src/providers/admin-secrets';
import { createRotationActivities } from './rotation';
import { inventoryReader, type InventoryWatcher } from '../src/inventory/watch';
import { allKinds } from '../src/kinds';
import type { KindRegistry } from '../src/kinds/define';
import { noteSecretsOf } from '../src/redaction';
import { openStores, type Stores } from '../src/stores';
import { parseOrThrow } from '../src/validation';
import { secretPathSchema, secretVersionSchema, type VaultKv, type SecretVersion } from '../src/vault';

export const copySecretVersionInputSchema = z
  .object({ from: secretVersionSchema, to: secretPathSchema })
  .strict();
export type CopySecretVersionInput = z.infer<typeof copySecretVersionInputSchema>;

/** Dependencies the activities reach the outside world through; tests and the worker pass real ones. */
export interface ActivityDependencies {
  /** Vault: admin tokens, and the credentials kept there. */
  vault: VaultKv;
  /** Where credentials are kept; Vault alone unless the worker opened other stores. */
  stores?: Stores;
  /** The provider adapters by kind; the worker passes the real ones. */
  providers?: KindRegistry;
  /** The inventory file, read anew at the start of each rotation unless `inventory` holds it. */
  inventoryPath: string;
  /** The last good inventory, kept current by the worker process (src/inventory/watch.ts). */
  inventory?: Pick<InventoryWatcher, 'current' | 'reload'>;
  /** Where each step records its lifecycle events. */
  audit: AuditSink;
  /** Where alerts go; by default they are logged. */
  alerts?: AlertSettings;
}

export function createActivities({
  vault: store,
  stores: opened,
  providers = allKinds,
  inventoryPath,
  inventory,
  audit,
  alerts = {},
}: ActivityDependencies) {
  // Every value an activity reads or stages is then removed from its failures and log lines.
  const vault = noteSecretsOf(store);
  const stores = opened ?? openStores({ vault });
  // One cache of admin tokens for the provider calls and for promote, which may have replaced one of them.
  const adminSecrets = new AdminSecrets(storedFieldReader({ vault, stores }));
  const credentials = createCredentialActivities({ vault, stores, providers, audit, adminSecrets });
  const readInventory = inventoryReader(inventoryPath, inventory);
  return {
    ...credentials,
    ...createRotationActivities({
      stores,
      providers,
      inventoryPath,
      readInventory,
      credentials,
      audit,
      adminSecrets,
    }),
    ...createAlertActivities(alerts),
    ...createHealthActivities({ stores, providers, inventoryPath, readInventory }),
    ...createDiscoveryActivities({ stores, inventoryPath, readInventory }),
    ...createApprovalActivities({ inventoryPath, readInventory }),
    ...createBreakGlassActivities(),
    /** Copies one version of a secret to another path by reference: the value stays between Vault and here. */
    async copySecretVersion(input: CopySecretVersionInput): Promise<SecretVersion> {
      return asActivity(async () => {
        const { from, to } = parseOrThrow(copySecretVersionInputSchema, input, 'copySecretVersion input');
        const { data } = await vault.read(from, from.version);
        return vault.write(to, data);
      });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
