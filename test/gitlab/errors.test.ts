import { GitLabAccessTokens, type AccessTokenSpec } from '../../src/gitlab/access-tokens';
import { GitLabCiVariables, type CiVariableSpec } from '../../src/gitlab/ci-variables';
import { GitLabClient } from '../../src/gitlab/client';
import { ProviderError } from '../../src/providers/errors';
import { startGitLabSim } from '../sim/gitlab/server';
import { gitlabWorld, type GitLabWorld } from './world';

let world: GitLabWorld;

beforeAll(async () => {
  world = await gitlabWorld();
});
afterAll(() => world.sim.close());
afterEach(() => world.sim.faults.clear());

const SHOW = '/projects/:id/access_tokens/:token_id';

function projectToken() {
  const token = world.state.addResourceToken(world.project, 'project', {
    name: 'deployer-ci',
    scopes: ['read_api'],
    expiresAt: '2099-12-31',
    accessLevel: 30,
  });
  const spec: AccessTokenSpec = {
    scope: 'project',
    projectId: world.project.id,
    tokenName: 'deployer-ci',
    scopes: ['read_api'],
    lifetimeDays: 30,
    strategy: 'create-then-revoke',
  };
  return { token, spec };
}

function sourceWith(token: string, fallbackToken?: string) {
  return new GitLabAccessTokens(new GitLabClient({ url: world.sim.url, token, fallbackToken }));
}

/** Every secret the simulator knows, which no error message may contain. */
function expectNoSecretIn(error: unknown) {
  const text = `${(error as Error).message} ${JSON.stringify(error)}`;
  for (const value of world.state.minted) expect(text).not.toContain(value);
}

describe('GitLab errors as ProviderErrors', () => {
  it('401: tries the fallback admin token once, and succeeds with it', async () => {
    const { token, spec } = projectToken();
    world.adminToken.revoked = true;
    try {
      const fallback = world.state.addToken({
        userId: world.root.id,
        name: 'fallback',
        scopes: ['api'],
        expiresAt: null,
      });
      const state = await sourceWith(world.adminToken.value, fallback.value).inspect(spec, {
        tokenId: String(token.id),
      });
      expect(state.tokenId).toBe(String(token.id));
    } finally {
      world.adminToken.revoked = false;
    }
  });

  it('401 without a usable fallback: a non-retryable auth error naming step and resource, never the token', async () => {
    const { token, spec } = projectToken();
    const error = await sourceWith('glpat-not-a-token', 'glpat-also-wrong')
      .inspect(spec, { tokenId: String(token.id) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      kind: 'auth',
      status: 401,
      retryable: false,
      provider: 'gitlab',
      step: 'inspect',
    });
    expect((error as Error).message).toBe(
      `gitlab inspect project ${world.project.id} project access token "deployer-ci" (id ${token.id}) failed: HTTP 401: 401 Unauthorized`,
    );
    expect((error as Error).message).not.toContain('glpat-');
  });

  it('an expired token is refused with 401 and GitLab reason', async () => {
    const { token, spec } = projectToken();
    const expired = world.state.addToken({
      userId: world.root.id,
      name: 'old-admin',
      scopes: ['api'],
      expiresAt: '2020-01-01',
    });
    await expect(
      sourceWith(expired.value).inspect(spec, { tokenId: String(token.id) }),
    ).rejects.toMatchObject({
      kind: 'auth',
      status: 401,
      message: expect.stringMatching(/HTTP 401: invalid_token: Token has expired\.$/),
    });
  });

  it('403: a token without the api scope, or a user without the role, is refused for good', async () => {
    const { token, spec } = projectToken();
    const readOnly = world.state.addToken({
      userId: world.root.id,
      name: 'ro',
      scopes: ['read_api'],
      expiresAt: null,
    });
    await expect(
      sourceWith(readOnly.value).revoke(spec, { tokenId: String(token.id) }),
    ).rejects.toMatchObject({
      kind: 'auth',
      status: 403,
      retryable: false,
      message: expect.stringContaining('insufficient_scope'),
    });
    const developer = world.state.addUser({ username: 'dev' });
    world.project.members.set(developer.id, 30);
    const devToken = world.state.addToken({
      userId: developer.id,
      name: 'dev',
      scopes: ['api'],
      expiresAt: null,
    });
    await expect(
      sourceWith(devToken.value).inspect(spec, { tokenId: String(token.id) }),
    ).rejects.toMatchObject({
      kind: 'auth',
      status: 403,
    });
  });

  it('404: a missing project is not-found and not retried', async () => {
    const { spec } = projectToken();
    await expect(
      sourceWith(world.adminToken.value).inspect({ ...spec, projectId: 'nowhere/at-all' }, { tokenId: '1' }),
    ).rejects.toMatchObject({
      kind: 'not-found',
      status: 404,
      retryable: false,
      message: expect.stringContaining('404 Project Not Found'),
    });
  });

  it('409: an ambiguous variable key carries GitLab message', async () => {
    const key = 'SHARED_KEY';
    world.state.addVariable(world.project, { key, value: 'a-value-123456', environmentScope: 'staging' });
    world.state.addVariable(world.project, { key, value: 'b-value-123456', environmentScope: 'production' });
    const spec: CiVariableSpec = {
      scope: 'project',
      projectId: world.project.id,
      key,
      environmentScope: 'review/*',
      masked: true,
      protected: true,
      variableType: 'env_var',
    };
    // The adapter always filters; ask without the filter the way an unfiltered client would.
    const error = await world.admin
      .call({ step: 'snapshot', resource: 'variable SHARED_KEY' }, (api) =>
        api.ProjectVariables.show(world.project.id, key),
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'conflict', status: 409, retryable: false });
    expect((error as Error).message).toContain("Please use 'filter[environment_scope]'");
    expect(await new GitLabCiVariables(world.admin).snapshot(spec)).toEqual({ exists: false });
  });

  it('429: retryable, with the wait GitLab asked for, and the request made only once', async () => {
    const { token, spec } = projectToken();
    world.sim.faults.failNth({
      method: 'GET',
      route: SHOW,
      n: world.sim.callsTotal('GET', SHOW) + 1,
      status: 429,
      retryAfterSeconds: 42,
    });
    const before = world.sim.callsTotal('GET', SHOW);
    const error = await sourceWith(world.adminToken.value)
      .inspect(spec, { tokenId: String(token.id) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'rate-limited', status: 429, retryable: true, retryAfterMs: 42_000 });
    expect(world.sim.callsTotal('GET', SHOW)).toBe(before + 1);
  });

  it.each([500, 502, 503])('%i to a mint: retryable, made only once, its outcome unknown', async (status) => {
    const route = '/projects/:id/access_tokens';
    const { spec } = projectToken();
    world.sim.faults.failNth({ method: 'POST', route, n: world.sim.callsTotal('POST', route) + 1, status });
    const before = world.sim.callsTotal('POST', route);
    const error = await sourceWith(world.adminToken.value)
      .issue(spec, undefined)
      .catch((e: unknown) => e);
    // A 5xx may come after GitLab made the token: the rotation looks for it before minting again.
    expect(error).toMatchObject({ kind: 'transient', status, retryable: true, outcomeUnknown: true });
    expect(world.sim.callsTotal('POST', route)).toBe(before + 1);
    expectNoSecretIn(error);
  });

  it('a 3 MB HTML 502 page from a proxy: a short failure message, markup stripped', async () => {
    const { token, spec } = projectToken();
    const page = `<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>${'body{margin:0}'.repeat(1000)}</style></head><body><h1>Whoops, GitLab is taking too much time to respond.</h1>${'<p>Try refreshing the page.</p>'.repeat(100_000)}</body></html>`;
    expect(page.length).toBeGreaterThan(3_000_000);
    world.sim.faults.failNth({
      method: 'GET',
      route: SHOW,
      n: world.sim.callsTotal('GET', SHOW) + 1,
      status: 502,
      page: { contentType: 'text/html', body: () => page },
    });
    const error = await sourceWith(world.adminToken.value)
      .inspect(spec, { tokenId: String(token.id) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'transient', status: 502 });
    const { message } = error as Error;
    expect(message).toMatch(
      /^gitlab inspect project \d+ project access token "deployer-ci" \(id \d+\) failed: HTTP 502: 502 Bad Gateway Whoops, GitLab is taking too much time to respond\. Try refreshing the page\. .*…$/,
    );
    expect(message.length).toBeLessThan(500);
    expect(message).not.toMatch(/[<>]|margin/);
  });

  it('400: a request GitLab refuses is non-retryable and carries its message', async () => {
    const { spec } = projectToken();
    const error = await sourceWith(world.adminToken.value)
      .issue({ ...spec, lifetimeDays: 400 }, undefined)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'conflict', status: 400, retryable: false });
    expect((error as Error).message).toContain('Expiration date must be within 365 days');
  });

  it('a network failure is retryable; after a mutating call its outcome is unknown', async () => {
    const gone = await startGitLabSim();
    await gone.close();
    const { token, spec } = projectToken();
    const source = new GitLabAccessTokens(new GitLabClient({ url: gone.url, token: world.adminToken.value }));
    await expect(source.inspect(spec, { tokenId: String(token.id) })).rejects.toMatchObject({
      kind: 'transient',
      retryable: true,
      outcomeUnknown: false,
      status: undefined,
    });
    const error = await source.issue(spec, undefined).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'transient', outcomeUnknown: true });
    expect((error as Error).message).toMatch(
      /could not be reached or dropped the connection \(ECONNREFUSED\)/,
    );
  });

  it('a garbage answer is a permanent error naming the field', async () => {
    const { token, spec } = projectToken();
    const source = sourceWith(world.adminToken.value);
    const original = token.scopes;
    (token as { scopes: unknown }).scopes = 'read_api';
    try {
      await expect(source.inspect(spec, { tokenId: String(token.id) })).rejects.toMatchObject({
        kind: 'permanent',
        message: expect.stringMatching(/unexpected answer: scopes: /),
      });
    } finally {
      token.scopes = original;
    }
  });

  it('still answers through injected latency', async () => {
    const { token, spec } = projectToken();
    world.sim.faults.latency(20);
    expect(
      (await sourceWith(world.adminToken.value).inspect(spec, { tokenId: String(token.id) })).active,
    ).toBe(true);
  });
});
