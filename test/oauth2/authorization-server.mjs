// A real OAuth2 authorization server for the tests: oidc-provider with refresh-token rotation on, so each
// refresh returns a new refresh token, consumes the old one, and a reuse revokes the whole grant
// (RFC 9700, section 4.14.2). oidc-provider ships only ES modules, so it runs in its own Node process.
//
// Environment: CLIENT_ID, CLIENT_SECRET. Prints `listening <port>` once ready. Besides the standard
// endpoints (/token, /token/introspection, /token/revocation), POST /test/grant creates the initial grant a
// person would authorise in a browser and answers its first refresh token, as a test's setup.
import { createServer } from 'node:http';
import process from 'node:process';
import Provider from 'oidc-provider';

const clientId = process.env.CLIENT_ID;
const clientSecret = process.env.CLIENT_SECRET;
if (!clientId || !clientSecret) throw new Error('set CLIENT_ID and CLIENT_SECRET');

const server = createServer();
await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
const { port } = server.address();

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
  scopes: ['openid', 'offline_access', 'api'],
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true, allowedPolicy: () => true },
    revocation: { enabled: true, allowedPolicy: () => true },
  },
  rotateRefreshToken: true,
  ttl: { AccessToken: 3600, RefreshToken: 30 * 86400, Grant: 30 * 86400 },
});
// The default in-memory storage is what a test server wants; its warning would only clutter the output.
provider.on('server_error', (_ctx, error) => process.stderr.write(`server_error: ${error.message}\n`));

provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/test/grant') return next();
  const client = await provider.Client.find(clientId);
  const grant = new provider.Grant({ accountId: 'ci-bot', clientId });
  grant.addOIDCScope('openid offline_access api');
  const grantId = await grant.save();
  const now = Math.floor(Date.now() / 1000);
  const refreshToken = new provider.RefreshToken({
    accountId: 'ci-bot',
    client,
    grantId,
    scope: 'openid offline_access api',
    gty: 'authorization_code',
    authTime: now,
    iiat: now,
    rotations: 0,
  });
  ctx.body = { refresh_token: await refreshToken.save() };
});

server.on('request', provider.callback());
process.stdout.write(`listening ${port}\n`);
