import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createActivities } from '../../activities';
import { createCredentialActivities } from '../../activities/credentials';
import { ProviderError } from '../../src/providers/errors';
import { OAuth2RefreshTokens, type RefreshTokenSpec } from '../../src/oauth2/refresh-token';
import { oauth2RefreshToken } from '../../src/kinds/oauth2-refresh-token';
import { VaultKvStore } from '../../src/vault';
import { stagedPath } from '../../src/stores/vault';
import { defined } from '../gitlab/world';
import { noAudit } from '../helpers/audit';
import { httpRelay, type HttpRelay } from '../helpers/http-relay';
import { recordMintedValue } from '../infra/secret-scan';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { startAuthorizationServer, type AuthorizationServer } from './server';
import { vaultSecretOf } from '../../src/stores';

let server: AuthorizationServer;
/** The real server behind a relay that rewrites or makes up answers. */
let relay: HttpRelay;
beforeAll(async () => {
  server = await startAuthorizationServer();
  relay = await httpRelay(server.url);
});
afterAll(async () => {
  await relay?.close();
  await server?.close();
});
const isGrant = (request: { url?: string }) => request.url === '/token';
/** A token answer rewritten as another server would word it. */
const rewritten = (change: (answer: Record<string, unknown>) => void) => (body: string) => {
  const answer = JSON.parse(body) as Record<string, unknown>;
  change(answer);
  return JSON.stringify(answer);
};

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
    const issued = await source().issue(spec(), { tokenId: '4' }, undefined, { held: first });
    expect(issued).toMatchObject({ tokenId: '5', revokedTokenId: '4', value: issued.fields?.accessToken });
    expect(issued.fields?.refreshToken).not.toBe(first.refreshToken);
    expect(Date.parse(defined(issued.expiresAt)) - Date.now()).toBeGreaterThan(3_500_000);
    expect(await server.active(first.refreshToken)).toBe(false);
    await source().verify(spec(), issued.value);

    const delivered = await source().issue(spec({ deliver: 'refresh-token' }), { tokenId: '5' }, undefined, {
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
      source('wrong-secret').issue(spec(), { tokenId: '1' }, undefined, { held: first }),
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
      source().issue(spec(), { tokenId: '1' }, undefined, { held: first, afterLostAnswer: true }),
      [first.refreshToken],
    );
    expect(lost).toMatchObject({ kind: 'credential-lost', status: 400 });
    expect(lost.message).toContain('A person must re-authorise');

    const second = await held();
    await server.refresh(second.refreshToken);
    const stolen = await refusal(source().issue(spec(), { tokenId: '1' }, undefined, { held: second }), [
      second.refreshToken,
    ]);
    expect(stolen).toMatchObject({ kind: 'compromised' });
    expect(stolen.message).toContain('not revoked (no revocationUrl)');
  });

  it('refuses a Vault secret without a refresh token, naming the field', async () => {
    const error = await refusal(source().issue(spec(), { tokenId: '1' }, undefined, { held: {} }), []);
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

describe('the token answers of other servers (RFC 6749, section 5.1), the real server’s rewritten by a relay', () => {
  it.each([
    ['expires_in as a string', (answer: Record<string, unknown>) => (answer.expires_in = '3600'), true],
    ['no expires_in', (answer: Record<string, unknown>) => delete answer.expires_in, false],
    ['token_type in lower case', (answer: Record<string, unknown>) => (answer.token_type = 'bearer'), true],
  ])('takes %s: the new pair, active at the server', async (_what, change, expires) => {
    const first = await held();
    relay.rewriteAnswerOf(isGrant, rewritten(change));
    const issued = await source(server.clientSecret, `${relay.url}/token`).issue(
      spec(),
      { tokenId: '1' },
      undefined,
      {
        held: first,
      },
    );
    const refreshToken = defined(issued.fields?.refreshToken);
    for (const value of [issued.value, refreshToken]) recordMintedValue(value);
    expect(refreshToken).not.toBe(first.refreshToken);
    expect(await server.active(issued.value)).toBe(true);
    expect(await server.active(refreshToken)).toBe(true);
    // Without expires_in no expiry is made up: policy.every alone schedules the next rotation.
    if (expires) expect(Date.parse(defined(issued.expiresAt)) - Date.now()).toBeGreaterThan(3_500_000);
    else expect(issued.expiresAt).toBeUndefined();
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
    // Granted, by its status, but no token can be read: the old refresh token may be spent.
    [200, 'not json', {}, { kind: 'transient', status: 200, outcomeUnknown: true }],
    [200, '{"token_type":"Bearer","expires_in":60}', {}, { kind: 'transient', outcomeUnknown: true }],
    [
      200,
      '{"access_token":"at-2","token_type":"mac","expires_in":60}',
      {},
      { kind: 'permanent', message: expect.stringMatching(/unexpected answer: fields token_type$/) },
    ],
    [
      200,
      '{"access_token":"at-2","token_type":"Bearer","expires_in":"soon"}',
      {},
      { kind: 'permanent', message: expect.stringMatching(/unexpected answer: fields expires_in$/) },
    ],
  ])('HTTP %d %s', async (status, body, headers, expected) => {
    const canned = await cannedServer(status, body, headers);
    try {
      const error = await refusal(
        source(server.clientSecret, canned.url).issue(spec(), { tokenId: '1' }, undefined, {
          held: { refreshToken: 'rt-secret' },
        }),
        ['rt-secret'],
      );
      expect(error).toMatchObject(expected);
    } finally {
      await canned.close();
    }
  });

  it('keeps the refresh token it presented when the answer carries none (RFC 6749, section 6)', async () => {
    const canned = await cannedServer(200, '{"access_token":"at-2","token_type":"Bearer","expires_in":60}');
    try {
      const issued = await source(server.clientSecret, canned.url).issue(
        spec({ deliver: 'refresh-token' }),
        { tokenId: '1' },
        undefined,
        { held: { refreshToken: 'rt-still-valid' } },
      );
      expect(issued).toMatchObject({
        tokenId: '2',
        value: 'rt-still-valid',
        fields: { refreshToken: 'rt-still-valid', accessToken: 'at-2' },
      });
    } finally {
      await canned.close();
    }
  });

  it('makes a 3 MB error_description (an HTML page) a short reason, markup stripped', async () => {
    const page = `<html><body><h1>upstream failed</h1>${'<p>nginx</p>'.repeat(300_000)}</body></html>`;
    const canned = await cannedServer(
      500,
      JSON.stringify({ error: 'server_error', error_description: page }),
    );
    try {
      const error = await refusal(
        source(server.clientSecret, canned.url).issue(spec(), { tokenId: '1' }, undefined, {
          held: { refreshToken: 'rt-secret' },
        }),
        ['rt-secret'],
      );
      expect(error).toMatchObject({ kind: 'transient', status: 500, outcomeUnknown: true });
      expect(error.message).toMatch(/failed: HTTP 500: server_error: upstream failed nginx nginx .*…$/);
      expect(error.message.length).toBeLessThan(500);
    } finally {
      await canned.close();
    }
  });

  it('flags a grant whose answer never came as outcome unknown', async () => {
    const error = await refusal(
      source(server.clientSecret, 'http://127.0.0.1:9/token').issue(spec(), { tokenId: '1' }, undefined, {
        held: { refreshToken: 'rt-secret' },
      }),
      ['rt-secret'],
    );
    expect(error).toMatchObject({ kind: 'transient', outcomeUnknown: true });
  });
});

describe('the issue activity for an OAuth2 credential, with the real Vault', () => {
  /** A client secret in Vault, a current secret holding `refreshToken`, and the issue activity's input. */
  async function credentialIn(vault: VaultKvStore, clientSecret: string, refreshToken: string, url: string) {
    const base = { mount: TEST_KV_MOUNT, path: `oauth2-activities/${randomUUID()}` };
    const secretAt = { mount: TEST_KV_MOUNT, path: `${base.path}-client` };
    await vault.write(secretAt, { secret: clientSecret });
    const current = await vault.write(base, { token: 'at-1', tokenId: '1', refreshToken });
    const source = {
      kind: 'oauth2-refresh-token',
      connection: { url, credential: { ...secretAt, key: 'secret' } },
      spec: spec(),
    };
    return {
      source,
      current: { tokenId: '1' },
      held: current,
      stage: { at: base, after: 0 },
    };
  }

  it('leaves no form of the refresh token or client secret a server echoes in its error_description', async () => {
    const vault = new VaultKvStore(testServers().vault);
    // As the worker makes them: their Vault store notes what it reads, for the failures to be cleaned of.
    const activities = createActivities({ vault, inventoryPath: 'unused.yaml', audit: noAudit });
    // Opaque values with the characters each encoding changes.
    const awkward = () =>
      `${randomBytes(12).toString('base64url')}+/=&? <>"'~${randomBytes(12).toString('hex')}`;
    const [clientSecret, refreshToken] = [awkward(), awkward()];
    const encodings = (value: string) => [
      value,
      encodeURIComponent(value),
      new URLSearchParams({ v: value }).toString().slice(2),
      Buffer.from(value).toString('base64').replace(/=+$/, ''),
      Buffer.from(value).toString('base64url'),
      value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'),
    ];
    const input = await credentialIn(vault, clientSecret, refreshToken, `${relay.url}/token`);
    let basic = '';
    relay.answerNext(isGrant, (request) => {
      basic = (request.headers.authorization ?? '').replace(/^Basic /, '');
      const echo = [
        `Authorization: ${request.headers.authorization ?? ''}`,
        `body: ${request.body}`,
        ...encodings(refreshToken).slice(2),
        ...encodings(clientSecret).slice(2),
      ].join(' | ');
      return {
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: 'invalid_request', error_description: `cannot parse ${echo}` }),
      };
    });
    const failure = (await activities.issueCredential(input).catch((e: unknown) => e)) as Error;

    expect(failure.message).toMatch(
      /^oauth2 refresh client ci-pipelines .* failed: HTTP 400: invalid_request: cannot parse /,
    );
    expect(basic.length).toBeGreaterThan(20);
    for (const text of [failure.message, failure.stack ?? '']) {
      for (const form of [basic, ...encodings(refreshToken), ...encodings(clientSecret)]) {
        expect(text).not.toContain(form);
      }
    }
  });

  it('stages the tokens of an answer it cannot use, and the next rotation goes on from them', async () => {
    const vault = new VaultKvStore(testServers().vault);
    const activities = createCredentialActivities({ vault, audit: noAudit });
    const { refreshToken } = await held();
    const input = await credentialIn(vault, server.clientSecret, refreshToken, `${relay.url}/token`);
    relay.rewriteAnswerOf(
      isGrant,
      rewritten((answer) => (answer.token_type = 'N_A')),
    );

    const failure = (await activities.issueCredential(input).catch((e: unknown) => e)) as Error;
    expect(failure.message).toMatch(
      /failed: HTTP 200: unexpected answer: fields token_type; its tokens are staged, and the next rotation goes on from them$/,
    );
    // The grant spent the refresh token; its successor is in Vault, beside the record of the grant.
    expect(await server.active(refreshToken)).toBe(false);
    const kept = await vault.read(stagedPath(input.stage.at));
    const keptToken = defined(kept.data.refreshToken);
    recordMintedValue(keptToken);
    expect(kept.data).toMatchObject({ grantFor: '1', accessToken: expect.any(String) });
    expect(kept.data.token).toBeUndefined();
    expect(await server.active(keptToken)).toBe(true);

    // The next rotation: detect reads the staged version, and the grant presents the kept refresh token.
    const next = await activities.issueCredential({
      ...input,
      stage: { ...input.stage, after: kept.ref.version },
    });
    const staged = await vault.read(defined(vaultSecretOf(next.staged)), Number(next.staged.version));
    recordMintedValue(defined(staged.data.refreshToken));
    expect(next).toMatchObject({ tokenId: '2', revokedTokenId: '1' });
    expect(await server.active(keptToken)).toBe(false);
    expect(await server.active(defined(staged.data.refreshToken))).toBe(true);
    await activities.verifyCredential({
      source: input.source,
      tokenId: '2',
      staged: next.staged,
      expiresAt: next.expiresAt,
    });
  });

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
      current: { tokenId: '1' },
      held: current,
      stage: { at: base, after: 0 },
    };
    const first = await activities.issueCredential(input);
    const again = await activities.issueCredential({ ...input, recovery: { orphansRevoked: [] } });

    // The second answer names the spent refresh token too (revokedTokenId): without it, rollback would try to
    // revoke the new token by id, which an OAuth2 server cannot do, and stick in needs-operator.
    expect(first).toMatchObject({ tokenId: '2', revokedTokenId: '1' });
    expect(again).toEqual(first);
    await activities.verifyCredential({
      source,
      tokenId: '2',
      staged: again.staged,
      expiresAt: again.expiresAt,
    });
  });
});
