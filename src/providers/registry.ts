import type { StoredField } from '../stores';

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
  connection?: { url: string; credential: StoredField };
}
