import type { CredentialSource, CredentialTarget, Dependent } from './types';

/** How to reach a provider, with the admin token already read from Vault by the caller. */
export interface ProviderConnection {
  url: string;
  token: string;
  /** Tried once when `token` is refused with 401. */
  fallbackToken?: string;
}

/**
 * Adapters by kind (the inventory's `kind`), so that activities and workflows never switch on a provider.
 * Specs are the adapter's own plain parameters; the caller builds them from the inventory.
 */
export interface ProviderRegistry {
  sources: Record<string, (connection: ProviderConnection) => CredentialSource<unknown>>;
  targets: Record<string, (connection: ProviderConnection) => CredentialTarget<unknown>>;
  dependents: Record<string, (connection: ProviderConnection) => Dependent<unknown>>;
}
