import { z } from 'zod';
import { distinctList, serverUrl } from '../inventory/fields';
import { OAuth2RefreshTokens } from '../oauth2/refresh-token';
import { storedFieldEntrySchema } from '../stores';
import { defineSource } from './define';

/** RFC 6749 scope tokens: printable ASCII without space, `"` or `\`. */
const oauth2Scope = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'expected an OAuth2 scope without spaces');

const entry = z
  .object({
    kind: z.literal('oauth2-refresh-token'),
    tokenUrl: serverUrl.describe("the authorization server's token endpoint"),
    clientId: z.string().min(1).describe('OAuth2 client id'),
    clientSecret: storedFieldEntrySchema.describe(
      'field holding the client secret, in Vault or another store',
    ),
    scopes: distinctList(oauth2Scope, 'scope').optional().describe('scopes to request on refresh'),
    deliver: z
      .enum(['access-token', 'refresh-token'])
      .default('access-token')
      .describe('which new token the targets receive'),
    introspectionUrl: serverUrl
      .optional()
      .describe('RFC 7662 introspection endpoint: verify asks it whether the new token is active'),
    revocationUrl: serverUrl
      .optional()
      .describe(
        'RFC 7009 revocation endpoint: a refresh token someone else used gets our access token revoked',
      ),
    strategy: z
      .literal('rotate-in-place')
      .default('rotate-in-place')
      .describe('the refresh grant returns a new refresh token and invalidates the old one at once'),
  })
  .strict();

/** It names no provider: it carries its token URL and client secret itself, the secret as the connection's token. */
export const oauth2RefreshToken = defineSource({
  kind: 'oauth2-refresh-token',
  entry,
  spec: ({ clientId, scopes, deliver, introspectionUrl, revocationUrl, tokenUrl, clientSecret }) => ({
    name: `OAuth2 refresh token of client ${clientId} at ${new URL(tokenUrl).origin}`,
    spec: { clientId, scopes, deliver, introspectionUrl, revocationUrl },
    connection: { url: tokenUrl, credential: clientSecret },
  }),
  adapter: (connection) => new OAuth2RefreshTokens(connection),
});
