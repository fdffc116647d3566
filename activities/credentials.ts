import type { AuditSink } from '../src/audit';
import { allKinds } from '../src/kinds';
import type { KindRegistry } from '../src/kinds/define';
import type { AdminSecrets } from '../src/providers/admin-secrets';
import { openStores, type Stores } from '../src/stores';
import type { VaultKv } from '../src/vault';
import { createCanaryActivities } from './canaries';
import { createConsumerActivities } from './consumers';
import { createDependentActivities } from './dependents';
import { createIssueActivities } from './issue';
import { providerCalls } from './provider-calls';
import { createSourceActivities } from './sources';
import { createTargetActivities } from './targets';

/**
 * Generic credential activities: they look adapters up by kind, read values from the store by reference,
 * and return references only. They share one admin-token cache, so a refused token is read again by all.
 */
export function createCredentialActivities({
  vault,
  stores = openStores({ vault }),
  providers = allKinds,
  audit,
  adminSecrets,
}: {
  vault: VaultKv;
  /** Where credentials are kept; Vault alone unless the worker opened other stores. */
  stores?: Stores;
  providers?: KindRegistry;
  audit: AuditSink;
  /** The admin tokens read so far, when the activity that promotes shares them. */
  adminSecrets?: AdminSecrets;
}) {
  const calls = providerCalls({ vault, stores, providers, audit, adminSecrets });
  return {
    ...createIssueActivities(calls),
    ...createSourceActivities(calls),
    ...createTargetActivities(calls),
    ...createDependentActivities(calls),
    ...createConsumerActivities(calls),
    ...createCanaryActivities(calls),
  };
}
