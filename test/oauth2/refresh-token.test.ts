import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCredentialActivities } from '../../activities/credentials';
import { ProviderError } from '../../src/providers/errors';
import { OAuth2RefreshTokens, type RefreshTokenSpec } from '../../src/oauth2/refresh-token';
import { oauth2RefreshToken } from '../../src/kinds/oauth2-refresh-token';
import { VaultKvStore } from '../../src/vault';
import { defined } from '../gitlab/world';
import { noAudit } from '../helpers/audit';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { startAuthorizationServer, type AuthorizationServer } from './server';

let server: AuthorizationServer;
beforeAll(async () => {
  server = await startAuthorizationServer();
});
afterAll(async () => server?.close());

const spec = (extra: Partial<RefreshTokenSpec> = {}): RefreshTokenSpec => ({
  clientId: server.clientId,
  deliver: 'access-token',
  introspectionUrl: `${server.url}/token/introspection`,
  ...extra,
});
const source = (secret = server.clientSecret, url = `${server.url}/token`) =>
  new OAuth2RefreshTokens({ url, token: secret });
const held = async () => ({ refreshToken: await server.authorise() });
/** The error a call failed with, checked to carry none of the secrets involved. */
async function refusal(call: Promise<unknown>, secrets: string[]): Promise<ProviderError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  const text = JSON.stringify({ ...(error as object), message: (error as Error).message });
  for (const secret of [...secrets, server.clientSecret]) expect(text).not.toContain(secret);
  return error as ProviderError;
}

describe('the OAuth2 refresh-token source against oidc-provider', () => {
  it('issues generation n+1 from one refresh grant: the targets’ token, the new pair, the old refresh token spent', async () => {
    const first = await held();
    const issued = await source().issue(spec(), { tokenId: 4 }, undefined, { held: first });
    expect(issued).toMatchObject({ tokenId: 5, revokedTokenId: 4, value: issued.fields?.accessToken });
    expect(issued.fields?.refreshToken).not.toBe(first.refreshToken);
    expect(Date.parse(issued.expiresAt) - Date.now()).toBeGreaterThan(3_500_000);
    expect(await server.active(first.refreshToken)).toBe(false);
    await source().verify(spec(), issued.value);

    const delivered = await source().issue(spec({ deliver: 'refresh-token' }), { tokenId: 5 }, undefined, {
      held: { refreshToken: defined(issued.fields?.refreshToken) },
    });
    expect(delivered.value).toBe(delivered.fields?.refreshToken);
  });

  it('refuses to verify a token the server does not hold active', async () => {
    const error = await refusal(source().verify(spec(), 'not-a-token'), []);
    expect(error).toMatchObject({ kind: 'permanent', step: 'verify' });
  });

  it('maps a wrong client secret to auth, naming the client, never the secret', async () => {
    const first = await held();
    const error = await refusal(
      source('wrong-secret').issue(spec(), { tokenId: 1 }, undefined, { held: first }),
      [first.refreshToken, 'wrong-secret'],
    );
    expect(error).toMatchObject({ kind: 'auth', status: 401, retryable: false });
    expect(error.message).toMatch(
      /^oauth2 refresh client ci-pipelines at http:\/\/127\.0\.0\.1:\d+ failed: HTTP 401: invalid_client/,
    );
    // The grant never ran: the refresh token is still good.
    expect(await server.active(first.refreshToken)).toBe(true);
  });

  it('tells a lost answer from a stolen token on invalid_grant', async () => {
    const first = await held();
    await server.refresh(first.refreshToken);
    const lost = await refusal(
      source().issue(spec(), { tokenId: 1 }, undefined, { held: first, afterLostAnswer: true }),
      [first.refreshToken],
    );
    expect(lost).toMatchObject({ kind: 'credential-lost', status: 400 });
    expect(lost.message).toContain('A person must re-authorise');

    const second = await held();
    await server.refresh(second.refreshToken);
    const stolen = await refusal(source().issue(spec(), { tokenId: 1 }, undefined, { held: second }), [
      second.refreshToken,
    ]);
    expect(stolen).toMatchObject({ kind: 'compromised' });
    expect(stolen.message).toContain('not revoked (no revocationUrl)');
  });

  it('refuses a Vault secret without a refresh token, naming the field', async () => {
    const error = await refusal(source().issue(spec(), { tokenId: 1 }, undefined, { held: {} }), []);
    expect(error).toMatchObject({ kind: 'permanent' });
    expect(error.message).toContain('refreshToken');
  });

  it('takes its connection from the inventory entry: token URL and client secret field', () => {
    const mapped = oauth2RefreshToken.spec({
      kind: 'oauth2-refresh-token',
      tokenUrl: 'https://login.example.com/oauth/token',
      clientId: 'ci',
      clientSecret: { mount: 'kv', path: 'oauth/ci', key: 'secret' },
      deliver: 'access-token',
      strategy: 'rotate-in-place',
    });
    expect(mapped).toEqual({
      name: 'OAuth2 refresh token of client ci at https://login.example.com',
      spec: { clientId: 'ci', deliver: 'access-token' },
      connection: {
        url: 'https://login.example.com/oauth/token',
        credential: { mount: 'kv', path: 'oauth/ci', key: 'secret' },
      },
    });
  });
});

/** Answers every request with one canned response: the failures oidc-provider does not produce. */
async function cannedServer(status: number, body: string, headers: Record<string, string> = {}) {
  const canned: Server = createServer((_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
  });
  await new Promise<void>((listening) => canned.listen(0, '127.0.0.1', listening));
  const { port } = canned.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/token`, close: () => new Promise((done) => canned.close(done)) };
}

describe('the OAuth2 source’s answers it cannot use', () => {
  it.each([
    [
      429,
      '{"error":"slow_down"}',
      { 'retry-after': '7' },
      { kind: 'rate-limited', retryAfterMs: 7000, outcomeUnknown: false },
    ],
    // A 5xx may come after the server granted, which spent the old refresh token: outcome unknown.
    [503, '<html>down</html>', {}, { kind: 'transient', retryable: true, outcomeUnknown: true }],
    [200, '{"access_token":"at","token_type":"Bearer","expires_in":60}', {}, { kind: 'permanent' }],
    [200, 'not json', {}, { kind: 'permanent' }],
  ])('HTTP %d %s', async (status, body, headers, expected) => {
    const canned = await cannedServer(status, body, headers);
    try {
      const error = await refusal(
        source(server.clientSecret, canned.url).issue(spec(), { tokenId: 1 }, undefined, {
          held: { refreshToken: 'rt-secret' },
        }),
        ['rt-secret'],
      );
      expect(error).toMatchObject(expected);
    } finally {
      await canned.close();
    }
  });

  it('flags a grant whose answer never came as outcome unknown', async () => {
    const error = await refusal(
      source(server.clientSecret, 'http://127.0.0.1:9/token').issue(spec(), { tokenId: 1 }, undefined, {
        held: { refreshToken: 'rt-secret' },
      }),
      ['rt-secret'],
    );
    expect(error).toMatchObject({ kind: 'transient', outcomeUnknown: true });
  });
});

describe('the issue activity for an OAuth2 credential, with the real Vault', () => {
  it('recovering from a lost answer, finds the grant it staged and answers as the first try did: the old refresh token spent', async () => {
    const vault = new VaultKvStore(testServers().vault);
    const activities = createCredentialActivities({ vault, audit: noAudit });
    const base = { mount: TEST_KV_MOUNT, path: `oauth2-activities/${randomUUID()}` };
    const clientSecret = { mount: TEST_KV_MOUNT, path: `${base.path}-client` };
    await vault.write(clientSecret, { secret: server.clientSecret });
    const { refreshToken } = await held();
    const current = await vault.write(base, { token: 'at-1', tokenId: '1', refreshToken });
    const source = {
      kind: 'oauth2-refresh-token',
      connection: { url: `${server.url}/token`, credential: { ...clientSecret, key: 'secret' } },
      spec: spec(),
    };
    const input = {
      source,
      current: { tokenId: 1 },
      held: current,
      stage: { mount: base.mount, path: `${base.path}/staged`, cas: 0 },
    };
    const first = await activities.issueCredential(input);
    const again = await activities.issueCredential({ ...input, recovery: { orphansRevoked: [] } });

    // The chaos run found the second answer without revokedTokenId: rollback then tried to revoke the new
    // token by id, which an OAuth2 server cannot do, and stuck.
    expect(first).toMatchObject({ tokenId: 2, revokedTokenId: 1 });
    expect(again).toEqual(first);
    await activities.verifyCredential({
      source,
      tokenId: 2,
      staged: again.staged,
      expiresAt: again.expiresAt,
    });
  });
});
