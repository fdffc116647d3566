import { z } from 'zod';
import { secretFieldSchema } from '../../vault';
import { distinctList, serverUrl } from '../fields';

/** RFC 6749 scope tokens: printable ASCII without space, `"` or `\`. */
const oauth2Scope = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'expected an OAuth2 scope without spaces');

export const oauth2RefreshToken = z
  .object({
    kind: z.literal('oauth2-refresh-token'),
    tokenUrl: serverUrl.describe("the authorization server's token endpoint"),
    clientId: z.string().min(1).describe('OAuth2 client id'),
    clientSecret: secretFieldSchema.describe('Vault field holding the client secret'),
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
