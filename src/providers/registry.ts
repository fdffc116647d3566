import type { SecretField } from '../vault';
import type { CredentialSource, CredentialTarget, Dependent } from './types';

/** How to reach a provider, with the admin token already read from Vault by the caller. */
export interface ProviderConnection {
  url: string;
  token: string;
  /** Tried once when `token` is refused with 401. */
  fallbackToken?: string;
}

/** An inventory entry as its adapter's own parameters, with the name operators know it by. */
export interface AdapterSpec<Spec = unknown> {
  name: string;
  spec: Spec;
  /**
   * Where the adapter connects and the Vault field of the secret it authenticates with, for an entry that
   * names no provider (an OAuth2 source carries its token URL and client secret itself).
   */
  connection?: { url: string; credential: SecretField };
}

/** Takes an inventory entry the inventory schema has validated for the mapping's kind. */
export type SpecMapping = (entry: never) => AdapterSpec;

/**
 * Adapters by kind (the inventory's `kind`), so that activities and workflows never switch on a provider.
 * Specs are the adapter's own plain parameters, built from the inventory by `specs`.
 */
export interface ProviderRegistry {
  sources: Record<string, (connection: ProviderConnection) => CredentialSource<unknown>>;
  targets: Record<string, (connection: ProviderConnection) => CredentialTarget<unknown>>;
  dependents: Record<string, (connection: ProviderConnection) => Dependent<unknown>>;
  specs: Record<string, SpecMapping>;
}
