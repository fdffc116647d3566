import { ProviderError } from '../../src/providers/errors';
import { GitLabAccessTokens, type AccessTokenSpec } from '../../src/gitlab/access-tokens';
import type { SimToken, SimUser } from '../sim/gitlab/state';
import { countCalls, defined, gitlabWorld, type GitLabWorld } from './world';

let world: GitLabWorld;
let source: GitLabAccessTokens;
/** A service account of the world's group, whose tokens the group manages. */
let serviceAccount: SimUser;

beforeAll(async () => {
  world = await gitlabWorld();
  source = new GitLabAccessTokens(world.admin);
  serviceAccount = world.state.addServiceAccount(world.group);
});
afterAll(() => world.sim.close());
afterEach(() => world.sim.faults.clear());

type Scope = AccessTokenSpec['scope'];
let names = 0;

/** A spec and the current token it rotates, seeded fresh so tests do not share families. */
function seed(
  scope: Scope,
  strategy: AccessTokenSpec['strategy'],
): { spec: AccessTokenSpec; current: SimToken } {
  const { state, maintainer, project, group } = world;
  const tokenName = `deployer-ci-${++names}`;
  const base = { tokenName, scopes: ['read_api', 'read_repository'], lifetimeDays: 30, strategy };
  const expiresAt = '2099-12-31';
  if (scope === 'personal' || scope === 'service-account') {
    const userId = scope === 'personal' ? maintainer.id : serviceAccount.id;
    return {
      spec:
        scope === 'personal' ? { ...base, scope, userId } : { ...base, scope, groupId: group.path, userId },
      current: state.addToken({ userId, name: tokenName, scopes: base.scopes, expiresAt }),
    };
  }
  const owner = scope === 'project' ? project : group;
  const spec: AccessTokenSpec =
    scope === 'project'
      ? { ...base, scope, projectId: project.path, accessLevel: 30 }
      : { ...base, scope, groupId: group.id, accessLevel: 30 };
  const current = state.addResourceToken(owner, scope, {
    name: tokenName,
    scopes: base.scopes,
    expiresAt,
    accessLevel: 30,
  });
  return { spec, current };
}

const scopes: Scope[] = ['personal', 'project', 'group', 'service-account'];
const MINT_ROUTE: Record<Scope, { create: string; rotate: string }> = {
  personal: {
    create: '/users/:id/personal_access_tokens',
    rotate: '/personal_access_tokens/:token_id/rotate',
  },
  project: { create: '/projects/:id/access_tokens', rotate: '/projects/:id/access_tokens/:token_id/rotate' },
  group: { create: '/groups/:id/access_tokens', rotate: '/groups/:id/access_tokens/:token_id/rotate' },
  'service-account': {
    create: '/groups/:id/service_accounts/:user_id/personal_access_tokens',
    rotate: '/groups/:id/service_accounts/:user_id/personal_access_tokens/:token_id/rotate',
  },
};

describe.each(scopes)('%s access tokens', (scope) => {
  it('inspects a token: scopes, state, expiry and last use, never its value', async () => {
    const { spec, current } = seed(scope, 'create-then-revoke');
    const state = await source.inspect(spec, { tokenId: String(current.id) });
    expect(state).toEqual({
      tokenId: String(current.id),
      name: spec.tokenName,
      scopes: spec.scopes,
      active: true,
      revoked: false,
      createdAt: current.createdAt,
      expiresAt: '2099-12-31',
      lastUsedAt: null,
    });
    expect(JSON.stringify(state)).not.toContain(current.value);
  });

  it('sees the last use of a token, which tells the overlap window whether the old one is still in use', async () => {
    const { spec, current } = seed(scope, 'create-then-revoke');
    await source.verify(spec, current.value, { tokenId: String(current.id), expiresAt: '2099-12-31' });
    expect((await source.inspect(spec, { tokenId: String(current.id) })).lastUsedAt).toEqual(
      expect.any(String),
    );
  });

  it('create-then-revoke mints a new token beside the old one, verifies it, then revokes the old one', async () => {
    const { spec, current } = seed(scope, 'create-then-revoke');
    const issued = await source.issue(spec, { tokenId: String(current.id) });

    expect(issued.expiresAt).toBe(source.expiryFor(spec));
    expect(world.state.tokens.get(current.id)?.revoked).toBe(false);
    await source.verify(spec, issued.value, issued);
    await source.revoke(spec, { tokenId: String(current.id) });
    expect((await source.inspect(spec, { tokenId: String(current.id) })).revoked).toBe(true);
    expect((await source.inspect(spec, { tokenId: issued.tokenId })).active).toBe(true);
  });

  it('rotate-in-place revokes the old token at once and links the new one into its family', async () => {
    const { spec, current } = seed(scope, 'rotate-in-place');
    const issued = await source.issue(spec, { tokenId: String(current.id) });

    expect(issued.revokedTokenId).toBe(String(current.id));
    expect(world.state.tokens.get(current.id)?.revoked).toBe(true);
    expect(world.state.tokens.get(Number(issued.tokenId))?.familyId).toBe(current.familyId);
    await source.verify(spec, issued.value, issued);
  });

  it('revokes idempotently: an already revoked or unknown token counts as revoked', async () => {
    const { spec, current } = seed(scope, 'create-then-revoke');
    await source.revoke(spec, { tokenId: String(current.id) });
    await source.revoke(spec, { tokenId: String(current.id) });
    await source.revoke(spec, { tokenId: '999999' });
    expect(world.state.tokens.get(current.id)?.revoked).toBe(true);
  });

  it('verify refuses a token with other scopes, another expiry, or one GitLab no longer accepts', async () => {
    const { spec, current } = seed(scope, 'create-then-revoke');
    const issued = await source.issue(spec, undefined);
    await expect(source.verify({ ...spec, scopes: ['api'] }, issued.value, issued)).rejects.toThrow(
      /verify .* failed: its scopes are read_api, read_repository/,
    );
    await expect(source.verify(spec, issued.value, { ...issued, expiresAt: '2030-01-01' })).rejects.toThrow(
      /it expires/,
    );
    await source.revoke(spec, { tokenId: issued.tokenId });
    const refused = await source.verify(spec, issued.value, issued).catch((e: unknown) => e);
    expect(refused).toMatchObject({ kind: 'auth', status: 401, retryable: false });
    expect((refused as Error).message).not.toContain(issued.value);
    expect(current.revoked).toBe(false);
  });

  it('after a lost create: finds exactly the one orphan, revokes it, and mints afresh; the family stays intact', async () => {
    const { spec, current } = seed(scope, 'create-then-revoke');
    const since = world.state.now().toISOString();
    dropNextAnswer(MINT_ROUTE[scope].create);

    const lost = await source.issue(spec, { tokenId: String(current.id) }).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(ProviderError);
    expect(lost).toMatchObject({ kind: 'transient', outcomeUnknown: true });

    const orphans = await source.findOrphans(spec, since, [{ tokenId: String(current.id) }]);
    expect(orphans).toHaveLength(1);
    await source.revoke(spec, defined(orphans[0]));
    const issued = await source.issue(spec, { tokenId: String(current.id) });
    await source.verify(spec, issued.value, issued);

    const active = world.state.tokensNamed(spec.tokenName).filter((t) => world.state.isActive(t));
    expect(active.map((t) => String(t.id)).sort()).toEqual([String(current.id), issued.tokenId].sort());
    expect(await source.findOrphans(spec, since, [{ tokenId: String(current.id) }, issued])).toEqual([]);
  });

  it.each(['create', 'rotate'] as const)(
    'after a %s answered 200 with its body cut short by a proxy: outcome unknown, the orphan found and revoked',
    async (mint) => {
      const { spec, current } = seed(scope, mint === 'create' ? 'create-then-revoke' : 'rotate-in-place');
      const since = world.state.now().toISOString();
      const route = MINT_ROUTE[scope][mint];
      world.sim.faults.failAfterCommit({
        method: 'POST',
        route,
        n: world.sim.callsTotal('POST', route) + 1,
        status: 200,
        page: { contentType: 'application/json', body: (answer) => answer.slice(0, answer.length / 2) },
      });

      const lost = await source.issue(spec, { tokenId: String(current.id) }).catch((e: unknown) => e);
      expect(lost).toBeInstanceOf(ProviderError);
      expect(lost).toMatchObject({ kind: 'transient', outcomeUnknown: true });
      expect((lost as Error).message).toMatch(
        /issue \(.*\) .* failed: unexpected answer: .*; the token may have been made$/,
      );
      for (const value of world.state.minted) expect((lost as Error).message).not.toContain(value);

      const orphans = await source.findOrphans(spec, since, [{ tokenId: String(current.id) }]);
      expect(orphans).toHaveLength(1);
      await source.revoke(spec, defined(orphans[0]));
      const issued = await source.issue(
        { ...spec, strategy: 'create-then-revoke' },
        { tokenId: String(current.id) },
      );
      await source.verify(spec, issued.value, issued);
    },
  );

  it('after a lost rotate: does not rotate again but revokes the orphan and creates afresh', async () => {
    const { spec, current } = seed(scope, 'rotate-in-place');
    const since = world.state.now().toISOString();
    dropNextAnswer(MINT_ROUTE[scope].rotate);
    await expect(source.issue(spec, { tokenId: String(current.id) })).rejects.toMatchObject({
      outcomeUnknown: true,
    });

    const orphans = await source.findOrphans(spec, since, [{ tokenId: String(current.id) }]);
    expect(orphans).toHaveLength(1);
    const orphan = defined(orphans[0]);
    expect(world.state.tokens.get(Number(orphan.tokenId))?.familyId).toBe(current.familyId);
    await source.revoke(spec, orphan);
    const issued = await source.issue(
      { ...spec, strategy: 'create-then-revoke' },
      { tokenId: String(current.id) },
    );
    await source.verify(spec, issued.value, issued);

    const active = world.state.tokensNamed(spec.tokenName).filter((t) => world.state.isActive(t));
    expect(active.map((t) => String(t.id))).toEqual([issued.tokenId]);
  });

  it('a retried rotate after a lost answer trips reuse detection: GitLab revokes the whole family', async () => {
    const { spec, current } = seed(scope, 'rotate-in-place');
    dropNextAnswer(MINT_ROUTE[scope].rotate);
    await expect(source.issue(spec, { tokenId: String(current.id) })).rejects.toMatchObject({
      outcomeUnknown: true,
    });
    const [rotated] = world.state.family(current).filter((t) => t.id !== current.id);
    expect(world.state.isActive(defined(rotated))).toBe(true);

    await expect(source.issue(spec, { tokenId: String(current.id) })).rejects.toMatchObject({
      kind: 'conflict',
      status: 400,
      retryable: false,
    });
    expect(world.state.family(current).filter((t) => world.state.isActive(t))).toEqual([]);
  });

  it('finds orphans with one call among 150 revoked tokens of the owner: active ones only, 100 a page', async () => {
    const { spec, current } = seed(scope, 'create-then-revoke');
    const since = world.state.now().toISOString();
    for (let k = 0; k < 150; k += 1) {
      const token = { name: spec.tokenName, scopes: ['read_api'], expiresAt: '2099-12-31' };
      const old =
        scope === 'personal' || scope === 'service-account'
          ? world.state.addToken({ ...token, userId: current.userId })
          : world.state.addResourceToken(scope === 'project' ? world.project : world.group, scope, {
              ...token,
              accessLevel: 30,
            });
      old.revoked = true;
    }
    dropNextAnswer(MINT_ROUTE[scope].create);
    await source.issue(spec, { tokenId: String(current.id) }).catch(() => undefined);

    let orphans: Awaited<ReturnType<typeof source.findOrphans>> = [];
    const calls = await countCalls(world.sim, async () => {
      orphans = await source.findOrphans(spec, since, [{ tokenId: String(current.id) }]);
    });
    expect(Object.values(calls).reduce((a, b) => a + b, 0)).toBe(1);
    expect(orphans).toHaveLength(1);
  });

  it('makes one GitLab call per operation', async () => {
    const { spec, current } = seed(scope, 'rotate-in-place');
    const counts = {
      inspect: await countCalls(world.sim, () => source.inspect(spec, { tokenId: String(current.id) })),
      findOrphans: await countCalls(world.sim, () => source.findOrphans(spec, current.createdAt, [])),
      createThenRevoke: await countCalls(world.sim, () =>
        source.issue({ ...spec, strategy: 'create-then-revoke' }, undefined),
      ),
    };
    let issued = { tokenId: '0', value: '', expiresAt: '' };
    const rotateInPlace = await countCalls(world.sim, async () => {
      issued = await source.issue(spec, { tokenId: String(current.id) });
    });
    const verify = await countCalls(world.sim, () => source.verify(spec, issued.value, issued));
    const revoke = await countCalls(world.sim, () => source.revoke(spec, issued));
    const revokeAgain = await countCalls(world.sim, () => source.revoke(spec, issued));
    const totals = Object.fromEntries(
      Object.entries({ ...counts, rotateInPlace, verify, revoke, revokeAgain }).map(([op, calls]) => [
        op,
        Object.values(calls).reduce((a, b) => a + b, 0),
      ]),
    );
    expect(totals).toEqual({
      inspect: 1,
      findOrphans: 1,
      createThenRevoke: 1,
      rotateInPlace: 1,
      verify: 1,
      revoke: 1,
      // 400 from DELETE, then a look at the token to see it is already revoked.
      revokeAgain: 2,
    });
  });
});

it.each([
  ['an HTML page (a sign-in proxy)', 'text/html', () => '<html><body><h1>Sign in</h1></body></html>'],
  ['JSON without the token', 'application/json', (answer: string) => answer.replace(/"token":"[^"]*",?/, '')],
  ['an empty body', 'application/json', () => ''],
])(
  'a mint answered 200 with %s, after GitLab made the token: outcome unknown, never a dropped token',
  async (_what, contentType, body) => {
    const { spec, current } = seed('project', 'create-then-revoke');
    const route = MINT_ROUTE.project.create;
    world.sim.faults.failAfterCommit({
      method: 'POST',
      route,
      n: world.sim.callsTotal('POST', route) + 1,
      status: 200,
      page: { contentType, body },
    });
    await expect(source.issue(spec, { tokenId: String(current.id) })).rejects.toMatchObject({
      kind: 'transient',
      outcomeUnknown: true,
    });
    expect(world.state.tokensNamed(spec.tokenName).filter((t) => world.state.isActive(t))).toHaveLength(2);
  },
);

it('rotate-in-place refuses to guess which token to rotate', async () => {
  const { spec } = seed('project', 'rotate-in-place');
  await expect(source.issue(spec, undefined)).rejects.toMatchObject({ kind: 'permanent' });
});

/** The next POST to `route` is committed at GitLab, but its answer never arrives. */
function dropNextAnswer(route: string): void {
  world.sim.faults.dropAfterCommit({ method: 'POST', route, n: world.sim.callsTotal('POST', route) + 1 });
}
