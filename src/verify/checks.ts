import { ApplicationFailure } from '@temporalio/common';
import { createCredentialActivities } from '../../activities/credentials';
import { createHealthActivities } from '../../activities/health';
import type { AuditSink } from '../audit';
import type { Inventory } from '../inventory/schema';
import { allKinds } from '../kinds';
import { noteSecretsOf } from '../redaction';
import { openStores } from '../stores';
import type { VaultKv } from '../vault';
import type { CredentialQuestions } from '../../workflows/credential-facts';
import { providerKindOf } from '../failure-types';

/** The checker only reads: an audit entry from it would be a bug, so the sink refuses. */
const readOnly: AuditSink = {
  append: (event) =>
    Promise.reject(new Error(`verify-state records nothing (asked to record "${event.event}")`)),
  ready: () => Promise.resolve(),
};

/**
 * The health check's own activities, called in this process: they read values from the store by reference,
 * compare them with what providers and targets hold, and answer without a value. Every value they read is
 * noted, so that an error quoting one is redacted before it is printed.
 */
export function stateChecks(vault: VaultKv, inventory: Inventory) {
  const providers = allKinds;
  const store = noteSecretsOf(vault);
  const stores = openStores({ vault: store });
  const credentials = createCredentialActivities({ vault: store, stores, providers, audit: readOnly });
  const health = createHealthActivities({
    stores,
    providers,
    inventoryPath: 'the inventory',
    readInventory: () => Promise.resolve({ ok: true, inventory }),
  });
  return {
    stores,
    activities: {
      healthCheckPlans: health.healthCheckPlans,
      readCurrentVersion: health.readCurrentVersion,
      inspectCredential: credentials.inspectCredential,
      checkTarget: credentials.checkTarget,
      findOrphanCredentials: credentials.findOrphanCredentials,
    },
  };
}

export type StateChecks = ReturnType<typeof stateChecks>;

export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
/** The provider said the token does not exist (the adapters' `ProviderError` kind, as the activities map it). */
export const isNotFound = (error: unknown) =>
  error instanceof ApplicationFailure && providerKindOf(error.type) === 'not-found';

/** The health check's questions about one credential, put to these activities in this process. */
export function credentialQuestions(activities: StateChecks['activities']): CredentialQuestions {
  return {
    readCurrentVersion: ({ store }) => activities.readCurrentVersion({ store: store.ref }),
    inspectCredential: ({ source }, current) =>
      activities.inspectCredential({ source: source.ref, tokenId: current.tokenId, held: current.ref }),
    checkTarget: ({ ref }, current, since) =>
      activities.checkTarget({ target: ref, value: current.ref, since }),
    isNotFound,
    messageOf,
  };
}
