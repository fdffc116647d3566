import { Gitlab } from '@gitbeaker/rest';
import { seededRandom } from '../sim/chaos';
import { gitlabWorld, type GitLabWorld } from './world';

let world: GitLabWorld;

beforeAll(async () => {
  world = await gitlabWorld();
});
afterAll(() => world.sim.close());

describe('the GitLab simulator, through @gitbeaker/rest as it is', () => {
  it('paginates with x-total, x-next-page and link headers, which gitbeaker follows', async () => {
    for (let i = 0; i < 45; i++) {
      world.state.addToken({
        userId: world.maintainer.id,
        name: `bulk-${i}`,
        scopes: ['read_api'],
        expiresAt: null,
      });
    }
    const api = new Gitlab({ host: world.sim.url, token: world.adminToken.value });
    const page = await api.PersonalAccessTokens.all({
      userId: world.maintainer.id,
      showExpanded: true,
      perPage: 20,
      maxPages: 1,
    });
    expect(page.paginationInfo).toMatchObject({ total: 46, next: 2, current: 1, perPage: 20, totalPages: 3 });
    const all = await api.PersonalAccessTokens.all({ userId: world.maintainer.id, search: 'bulk-' });
    expect(all).toHaveLength(45);
  });

  it('accepts a token as Authorization: Bearer as well as PRIVATE-TOKEN', async () => {
    const api = new Gitlab({ host: world.sim.url, oauthToken: world.maintainerToken.value });
    expect(await api.PersonalAccessTokens.show()).toMatchObject({
      id: world.maintainerToken.id,
      active: true,
    });
  });

  it('refuses a non-administrator that asks for the tokens of another user with 401, as GitLab documents', async () => {
    const api = new Gitlab({ host: world.sim.url, token: world.maintainerToken.value });
    await expect(api.PersonalAccessTokens.all({ userId: world.root.id })).rejects.toMatchObject({
      cause: { response: { status: 401 } },
    });
  });

  it('lets only administrators create personal access tokens for users', async () => {
    const api = new Gitlab({ host: world.sim.url, token: world.maintainerToken.value });
    await expect(
      api.PersonalAccessTokens.create(world.maintainer.id, 'mine', ['read_api']),
    ).rejects.toMatchObject({
      cause: { response: { status: 403 } },
    });
  });

  it('injects random faults when asked: refusals that change nothing, answers lost after the change', async () => {
    const api = new Gitlab({ host: world.sim.url, token: world.adminToken.value });
    const settings = { lostRate: 0, maxLatencyMs: 5, retryAfterSeconds: 1, random: seededRandom(7) };
    world.sim.chaos.set({ ...settings, errorRate: 1 });
    const tokensBefore = world.state.tokens.size;
    const refused = await api.PersonalAccessTokens.create(world.maintainer.id, 'refused', ['read_api']).then(
      () => undefined,
      (error: { cause?: { response?: Response } }) => error.cause?.response,
    );
    expect([503, 429]).toContain(refused?.status);
    if (refused?.status === 429) expect(refused.headers.get('retry-after')).toBe('1');
    expect(world.state.tokens.size).toBe(tokensBefore);

    world.sim.chaos.set({ ...settings, errorRate: 0, lostRate: 1 });
    await expect(
      api.PersonalAccessTokens.create(world.maintainer.id, 'lost', ['read_api']),
    ).rejects.toThrow();
    expect([...world.state.tokens.values()].map((token) => token.name)).toContain('lost');

    world.sim.chaos.set(undefined);
    await expect(api.PersonalAccessTokens.show()).resolves.toMatchObject({ id: world.adminToken.id });
    const { injected } = world.sim.chaos;
    expect(injected['refused-503'] + injected['rate-limited-429']).toBe(1);
    expect(injected['lost-after-commit']).toBe(1);
  });

  it('keeps every minted value for secret scans', () => {
    expect(world.state.minted).toContain(world.adminToken.value);
    expect(new Set(world.state.minted).size).toBe(world.state.minted.length);
  });
});
