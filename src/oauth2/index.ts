import type { ProviderRegistry } from '../providers/registry';
import { OAuth2RefreshTokens } from './refresh-token';
import { refreshToken } from './specs';

/** OAuth2's adapters under the inventory's kinds: one source; the connection's token is the client secret. */
export const oauth2Providers: ProviderRegistry = {
  sources: { 'oauth2-refresh-token': (connection) => new OAuth2RefreshTokens(connection) },
  targets: {},
  dependents: {},
  specs: { 'oauth2-refresh-token': refreshToken },
};
