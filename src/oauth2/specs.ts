import type { z } from 'zod';
import type { oauth2RefreshToken } from '../inventory/sources/oauth2-refresh-token';
import type { AdapterSpec } from '../providers/registry';
import type { RefreshTokenSpec } from './refresh-token';

/** The inventory's OAuth2 source: it names no provider, carrying its token URL and client secret itself. */
export function refreshToken(entry: z.output<typeof oauth2RefreshToken>): AdapterSpec<RefreshTokenSpec> {
  const { clientId, scopes, deliver, introspectionUrl, revocationUrl } = entry;
  return {
    name: `OAuth2 refresh token of client ${clientId} at ${new URL(entry.tokenUrl).origin}`,
    spec: { clientId, scopes, deliver, introspectionUrl, revocationUrl },
    connection: { url: entry.tokenUrl, credential: entry.clientSecret },
  };
}
