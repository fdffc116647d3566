import { GitLabClient } from '../../src/gitlab/client';
import { GitLabPipelineTriggers, type PipelineTriggerSpec } from '../../src/gitlab/pipeline-triggers';
import { ProviderError } from '../../src/providers/errors';
import type { IssuedCredential } from '../../src/providers/types';
import type { SimTrigger } from '../sim/gitlab/state';
import { countCalls, defined, gitlabWorld, type GitLabWorld } from './world';

let world: GitLabWorld;
let source: GitLabPipelineTriggers;

beforeAll(async () => {
  world = await gitlabWorld();
  // The adapter reads expiry by the simulator's clock, which tests move.
  source = new GitLabPipelineTriggers(world.admin, () => world.state.now());
});
afterAll(() => world.sim.close());
afterEach(() => {
  world.sim.faults.clear();
  world.state.now = () => new Date();
});

const CREATE = { method: 'POST', route: '/projects/:id/triggers' };
let names = 0;

/** A spec and its current trigger, owned by the admin token's user as a rotated one is. */
function seed({ lifetimeDays }: { lifetimeDays?: number } = { lifetimeDays: 30 }): {
  spec: PipelineTriggerSpec;
  current: SimTrigger;
} {
  const description = `deploy-downstream-${++names}`;
  const spec: PipelineTriggerSpec = {
    projectId: world.project.path,
    description,
    ...(lifetimeDays === undefined ? {} : { lifetimeDays }),
  };
  const current = world.state.addTrigger(world.project, {
    description,
    ownerId: world.root.id,
    expiresAt: '2099-12-31T00:00:00.000Z',
  });
  return { spec, current };
}

const live = (description: string) => world.state.triggersDescribed(description);

describe('pipeline trigger tokens', () => {
  it('inspects a trigger: its description, expiry and last use, never its token', async () => {
    const { spec, current } = seed();
    world.state.useTrigger(current);
    const state = await source.inspect(spec, { tokenId: String(current.id) });
    expect(state).toEqual({
      tokenId: String(current.id),
      name: spec.description,
      scopes: [],
      active: true,
      revoked: false,
      createdAt: current.createdAt,
      expiresAt: '2099-12-31',
      lastUsedAt: current.lastUsed,
    });
    expect(state.lastUsedAt).toEqual(expect.any(String));
    expect(JSON.stringify(state)).not.toContain(current.value);
  });

  it('reports a trigger whose expiry has passed as inactive', async () => {
    const { spec, current } = seed();
    world.state.now = () => new Date('2100-01-01T00:00:00Z');
    expect(await source.inspect(spec, { tokenId: String(current.id) })).toMatchObject({ active: false });
  });

  it('creates a new trigger beside the old one, verifies it by reading it back, then deletes the old one', async () => {
    const { spec, current } = seed();
    const issued = await source.issue(spec);

    expect(issued.value).toMatch(/^glptt-/);
    expect(issued.expiresAt).toBe(source.expiryFor(spec));
    const made = defined(world.state.triggers.get(Number(issued.tokenId)));
    expect(made).toMatchObject({
      value: issued.value,
      ownerId: world.root.id,
      description: spec.description,
    });
    expect(made.expiresAt).toBe(`${issued.expiresAt}T00:00:00.000Z`);
    await source.verify(spec, issued.value, {
      tokenId: issued.tokenId,
      expiresAt: defined(issued.expiresAt),
    });

    await source.revoke(spec, { tokenId: String(current.id) });
    expect(world.state.triggers.has(current.id)).toBe(false);
    expect(live(spec.description).map((t) => String(t.id))).toEqual([issued.tokenId]);
    await expect(source.inspect(spec, { tokenId: String(current.id) })).rejects.toMatchObject({
      kind: 'not-found',
      status: 404,
    });
  });

  it('makes a trigger that never expires when the spec sets no lifetime', async () => {
    const { spec } = seed({});
    const issued = await source.issue(spec);
    expect(issued.expiresAt).toBeUndefined();
    expect(world.state.triggers.get(Number(issued.tokenId))?.expiresAt).toBeNull();
    // The activities hand verify an empty expiry when issue named none.
    await source.verify(spec, issued.value, { tokenId: issued.tokenId, expiresAt: '' });
    expect((await source.inspect(spec, issued)).expiresAt).toBeNull();
  });

  it('deletes idempotently: a trigger already gone, or never there, counts as revoked', async () => {
    const { spec, current } = seed();
    await source.revoke(spec, { tokenId: String(current.id) });
    await source.revoke(spec, { tokenId: String(current.id) });
    await source.revoke(spec, { tokenId: '999999' });
    expect(world.state.triggers.has(current.id)).toBe(false);
  });

  it('verify refuses another value, another expiry, an expired trigger, and never names the value', async () => {
    const { spec } = seed();
    const issued = await source.issue(spec);
    const ref = { tokenId: issued.tokenId, expiresAt: defined(issued.expiresAt) };
    const wrong = await source.verify(spec, `${issued.value}x`, ref).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ kind: 'permanent' });
    expect((wrong as Error).message).toMatch(/verify .* failed: its token is not the value stored$/);
    expect((wrong as Error).message).not.toContain(issued.value);
    await expect(source.verify(spec, issued.value, { ...ref, expiresAt: '2030-01-01' })).rejects.toThrow(
      /it expires \d{4}-\d{2}-\d{2}$/,
    );
    world.state.now = () => new Date('2101-01-01T00:00:00Z');
    await expect(source.verify(spec, issued.value, ref)).rejects.toThrow(/it has expired/);
  });

  it('verify names a trigger another user owns: GitLab shows the admin only its first four characters', async () => {
    const { spec } = seed();
    const theirs = world.state.addTrigger(world.project, {
      description: spec.description,
      ownerId: world.maintainer.id,
    });
    await expect(
      source.verify(spec, theirs.value, { tokenId: String(theirs.id), expiresAt: '' }),
    ).rejects.toThrow(/GitLab shows its token shortened: the trigger is owned by another user/);
    const maintainer = new GitLabPipelineTriggers(
      new GitLabClient({ url: world.sim.url, token: world.maintainerToken.value }),
    );
    await maintainer.verify(spec, theirs.value, { tokenId: String(theirs.id), expiresAt: '' });
  });

  it('after a lost create: finds exactly the one orphan, deletes it, and creates afresh', async () => {
    const { spec, current } = seed();
    const since = world.state.now().toISOString();
    world.sim.faults.dropAfterCommit({ ...CREATE, n: world.sim.callsTotal(CREATE.method, CREATE.route) + 1 });

    const lost = await source.issue(spec).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(ProviderError);
    expect(lost).toMatchObject({ kind: 'transient', outcomeUnknown: true });

    const orphans = await source.findOrphans(spec, since, [{ tokenId: String(current.id) }]);
    expect(orphans).toHaveLength(1);
    await source.revoke(spec, defined(orphans[0]));
    const issued = await source.issue(spec);
    await source.verify(spec, issued.value, {
      tokenId: issued.tokenId,
      expiresAt: defined(issued.expiresAt),
    });

    expect(
      live(spec.description)
        .map((t) => String(t.id))
        .sort(),
    ).toEqual([String(current.id), issued.tokenId].sort());
    expect(await source.findOrphans(spec, since, [{ tokenId: String(current.id) }, issued])).toEqual([]);
  });

  it('a create answered 200 with its body cut short by a proxy leaves the outcome unknown, and the value out of the error', async () => {
    const { spec } = seed();
    world.sim.faults.failAfterCommit({
      ...CREATE,
      n: world.sim.callsTotal(CREATE.method, CREATE.route) + 1,
      status: 200,
      page: { contentType: 'application/json', body: (answer) => answer.slice(0, answer.length / 2) },
    });
    const lost = await source.issue(spec).catch((e: unknown) => e);
    expect(lost).toMatchObject({ kind: 'transient', outcomeUnknown: true });
    expect((lost as Error).message).toMatch(/the token may have been made$/);
    for (const value of world.state.minted) expect((lost as Error).message).not.toContain(value);
    expect(live(spec.description)).toHaveLength(2);
  });

  it('finds orphans among 150 other triggers of the project, page by page, ignoring older and expired ones', async () => {
    const { spec, current } = seed();
    for (let k = 0; k < 150; k += 1) {
      world.state.addTrigger(world.project, { description: `other-${k}`, ownerId: world.root.id });
    }
    const older = world.state.addTrigger(world.project, {
      description: spec.description,
      ownerId: world.root.id,
    });
    older.createdAt = '2020-01-01T00:00:00.000Z';
    const since = world.state.now().toISOString();
    world.state.addTrigger(world.project, {
      description: spec.description,
      ownerId: world.root.id,
      expiresAt: new Date(Date.now() + 1000).toISOString(),
    });
    const orphan = world.state.addTrigger(world.project, {
      description: spec.description,
      ownerId: world.root.id,
    });
    world.state.now = () => new Date(Date.now() + 60_000);

    let orphans: Awaited<ReturnType<typeof source.findOrphans>> = [];
    const calls = await countCalls(world.sim, async () => {
      orphans = await source.findOrphans(spec, since, [{ tokenId: String(current.id) }]);
    });
    expect(orphans.map((o) => o.tokenId)).toEqual([String(orphan.id)]);
    expect(calls['GET /projects/:id/triggers']).toBeGreaterThanOrEqual(2);
  });

  it('makes one GitLab call to inspect, issue, verify and delete', async () => {
    const { spec, current } = seed();
    const totals: Record<string, number> = {};
    const sum = (calls: Record<string, number>) => Object.values(calls).reduce((a, b) => a + b, 0);
    totals.inspect = sum(
      await countCalls(world.sim, () => source.inspect(spec, { tokenId: String(current.id) })),
    );
    let issued: IssuedCredential = { tokenId: '0', value: '' };
    totals.issue = sum(
      await countCalls(world.sim, async () => {
        issued = await source.issue(spec);
      }),
    );
    const ref = { tokenId: issued.tokenId, expiresAt: defined(issued.expiresAt) };
    totals.verify = sum(await countCalls(world.sim, () => source.verify(spec, issued.value, ref)));
    totals.revoke = sum(await countCalls(world.sim, () => source.revoke(spec, ref)));
    expect(totals).toEqual({ inspect: 1, issue: 1, verify: 1, revoke: 1 });
  });

  it('names the refusal of a caller without the Maintainer role, and a stored id that is not GitLab’s', async () => {
    const { spec, current } = seed();
    const developer = world.state.addUser({ username: 'developer' });
    world.project.members.set(developer.id, 30);
    const token = world.state.addToken({
      userId: developer.id,
      name: 'dev',
      scopes: ['api'],
      expiresAt: null,
    });
    const asDeveloper = new GitLabPipelineTriggers(
      new GitLabClient({ url: world.sim.url, token: token.value }),
    );
    await expect(asDeveloper.issue(spec)).rejects.toMatchObject({ kind: 'auth', status: 403 });
    await expect(asDeveloper.inspect(spec, { tokenId: String(current.id) })).rejects.toMatchObject({
      kind: 'auth',
      status: 403,
    });
    await expect(source.inspect(spec, { tokenId: 'abc' })).rejects.toThrow(
      /"abc" is not a GitLab trigger id .*the stored tokenId field is wrong/,
    );
  });
});
