import { createServer } from 'node:net';
import { z } from 'zod';
import { GitHubActionsSecrets } from '../../src/github/actions-secrets';
import { GitHubClient, parseAnswer } from '../../src/github/client';
import { toProviderError } from '../../src/github/errors';
import { ProviderError } from '../../src/providers/errors';
import { noteSecrets, withSecretScope } from '../../src/redaction';
import type { ActionsSecretSpec } from '../../src/github/scopes';
import { countCalls, githubWorld, type GitHubWorld } from './world';

let world: GitHubWorld;
const spec: ActionsSecretSpec = { scope: 'repository', owner: 'acme', repo: 'app', name: 'DEPLOY_TOKEN' };
const KEY = 'GET /repos/{owner}/{repo}/actions/secrets/public-key';
const PUT = 'PUT /repos/{owner}/{repo}/actions/secrets/{secret_name}';
const VALUE = 'glpat-never-in-a-message';

beforeAll(async () => {
  world = await githubWorld();
});

afterAll(async () => {
  await world?.sim.close();
});

beforeEach(() => world.sim.faults.clear());

const [keyMethod = '', keyRoute = ''] = KEY.split(' ');
const [putMethod = '', putRoute = ''] = PUT.split(' ');

/** The write's failure, checked to carry no token and no value anywhere, own fields included. */
async function failure(write: Promise<void>, ...tokens: string[]): Promise<ProviderError> {
  const error = await write.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ProviderError);
  const everything = `${String(error)} ${(error as Error).stack} ${JSON.stringify(error)}`;
  for (const secret of [VALUE, world.adminToken.value, ...tokens]) expect(everything).not.toContain(secret);
  expect(error).not.toHaveProperty('cause');
  expect(error).not.toHaveProperty('request');
  return error as ProviderError;
}

describe('GitHub failures as provider errors, never with a token or value', () => {
  it('401 with no fallback: auth, not retried, GitHub’s message', async () => {
    const secrets = world.connect('ghp_unknownTokenValue123');
    const error = await failure(secrets.write(spec, VALUE), 'ghp_unknownTokenValue123');
    expect(error).toMatchObject({ kind: 'auth', status: 401, retryable: false });
    expect(error.message).toBe(
      'github write (public key) repository acme/app secret DEPLOY_TOKEN failed: HTTP 401: Bad credentials',
    );
  });

  it('401 tries the fallback token once, and goes on with it', async () => {
    const secrets = world.connect('ghp_revokedTokenValue456', world.adminToken.value);
    const calls = await countCalls(world.sim, () => secrets.write(spec, VALUE));
    expect(world.state.plaintext(world.app, spec.name)).toBe(VALUE);
    expect(calls).toEqual({ [KEY]: 2, [PUT]: 2 });
    expect(world.sim.calls.map((call) => call.status)).toEqual([401, 200, 401, 201]);
  });

  it('401 from both tokens: auth, after one try of each', async () => {
    const secrets = world.connect('ghp_firstBadToken', 'ghp_secondBadToken');
    const calls = await countCalls(world.sim, async () => {
      const error = await failure(secrets.write(spec, VALUE), 'ghp_firstBadToken', 'ghp_secondBadToken');
      expect(error).toMatchObject({ kind: 'auth', status: 401 });
    });
    expect(calls).toEqual({ [KEY]: 2 });
  });

  it('403 without a rate limit (a token that may only read secrets): auth, not retried', async () => {
    const reader = world.state.addToken({ secrets: 'read' });
    const error = await failure(world.connect(reader.value).write(spec, VALUE), reader.value);
    expect(error).toMatchObject({ kind: 'auth', status: 403, retryable: false });
    expect(error.message).toContain('Resource not accessible by personal access token');
  });

  it('404 for a repository the token cannot see: not-found, not retried', async () => {
    const outsider = world.state.addToken({ reaches: ['acme/api'] });
    const error = await failure(world.connect(outsider.value).write(spec, VALUE), outsider.value);
    expect(error).toMatchObject({ kind: 'not-found', status: 404, retryable: false });
  });

  it('429 with retry-after: rate-limited, retried after that many seconds', async () => {
    world.sim.faults.inject({ method: putMethod, route: putRoute, status: 429, retryAfterSeconds: 7 });
    const error = await failure(world.secrets.write(spec, VALUE));
    expect(error).toMatchObject({ kind: 'rate-limited', status: 429, retryable: true, retryAfterMs: 7000 });
  });

  it('403 with a secondary limit’s retry-after: rate-limited', async () => {
    world.sim.faults.inject({ method: keyMethod, route: keyRoute, status: 403, retryAfterSeconds: 60 });
    const error = await failure(world.secrets.write(spec, VALUE));
    expect(error).toMatchObject({ kind: 'rate-limited', status: 403, retryable: true, retryAfterMs: 60_000 });
  });

  it('403 with x-ratelimit-remaining 0: rate-limited until x-ratelimit-reset', async () => {
    const spent = world.state.addToken();
    world.state.exhaustRateLimit(spent, 120);
    const error = await failure(world.connect(spent.value).write(spec, VALUE), spent.value);
    expect(error).toMatchObject({ kind: 'rate-limited', status: 403, retryable: true });
    expect(error.retryAfterMs).toBeGreaterThan(115_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(120_000);
    expect(error.message).toContain('API rate limit exceeded');
    expect(world.sim.calls.at(-1)?.headers).toMatchObject({ 'x-ratelimit-remaining': '0' });
  });

  it.each([500, 502, 503])('%i: transient, retried', async (status) => {
    world.sim.faults.inject({ method: putMethod, route: putRoute, status });
    const error = await failure(world.secrets.write(spec, VALUE));
    expect(error).toMatchObject({ kind: 'transient', status, retryable: true });
  });

  it('a message echoing the request, megabytes long: short, one line, without the token or value', async () => {
    const echo = `Bad credentials for Authorization: token ${world.adminToken.value}; body ${VALUE}. `;
    world.sim.faults.inject({
      method: putMethod,
      route: putRoute,
      status: 502,
      message: echo.repeat(40_000),
    });
    // Inside an activity, which has noted the value it read from Vault.
    const error = await withSecretScope(() => {
      noteSecrets(VALUE);
      return failure(world.secrets.write(spec, VALUE));
    });
    expect(error).toMatchObject({ kind: 'transient', status: 502 });
    expect(error.message).toMatch(
      /HTTP 502: Bad credentials for Authorization: token \[redacted\]; body \[redacted\]\. .*…$/,
    );
    expect(error.message.length).toBeLessThan(500);
  });

  it('a GitHub that cannot be reached: transient, retried', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const secrets = new GitHubActionsSecrets(
      new GitHubClient({ url: `http://127.0.0.1:${port}`, token: world.adminToken.value }),
    );
    const error = await failure(secrets.write(spec, VALUE));
    expect(error).toMatchObject({ kind: 'transient', retryable: true, status: undefined });
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('an answer without the fields the worker needs, or an error of no known shape: permanent', () => {
    const site = { step: 'write (public key)', resource: 'repository acme/app secret DEPLOY_TOKEN' };
    const garbage = () => parseAnswer(z.object({ key_id: z.string() }), { key: 'k' }, site);
    expect(garbage).toThrow(ProviderError);
    expect(garbage).toThrow(/unexpected answer: key_id: /);
    expect(toProviderError(new RangeError('bug'), site)).toMatchObject({
      kind: 'permanent',
      retryable: false,
    });
  });
});
