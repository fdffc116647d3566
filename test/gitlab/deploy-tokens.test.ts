import { ProviderError } from '../../src/providers/errors';
import { GitLabDeployTokens, type DeployTokenSpec } from '../../src/gitlab/deploy-tokens';
import type { SimDeployToken } from '../sim/gitlab/state';
import { countCalls, defined, gitlabWorld, type GitLabWorld } from './world';

let world: GitLabWorld;
let source: GitLabDeployTokens;

beforeAll(async () => {
  world = await gitlabWorld();
  source = new GitLabDeployTokens(world.admin);
});
afterAll(() => world.sim.close());
afterEach(() => world.sim.faults.clear());

type Scope = DeployTokenSpec['scope'];
let names = 0;

/** A spec and its current token, seeded fresh so that tests do not share names. */
function seed(scope: Scope, scopes = ['read_repository', 'read_registry']) {
  const { state, project, group } = world;
  const tokenName = `registry-pull-${++names}`;
  const base = { tokenName, scopes, lifetimeDays: 30, strategy: 'create-then-revoke' as const };
  const spec: DeployTokenSpec =
    scope === 'project' ? { ...base, scope, projectId: project.id } : { ...base, scope, groupId: group.path };
  const current = state.addDeployToken({
    resource: `${scope}:${scope === 'project' ? project.id : group.id}`,
    name: tokenName,
    scopes,
    expiresAt: '2099-12-31T00:00:00.000Z',
  });
  return { spec, current };
}

const minted = (tokenId: string): SimDeployToken => defined(world.state.deployTokens.get(Number(tokenId)));

describe.each<Scope>(['project', 'group'])('%s deploy tokens', (scope) => {
  const base = `/${scope}s/:id/deploy_tokens`;

  it('inspects a token: scopes, state and expiry; no last use, which GitLab does not report', async () => {
    const { spec, current } = seed(scope);
    const state = await source.inspect(spec, { tokenId: String(current.id) });
    expect(state).toEqual({
      tokenId: String(current.id),
      name: spec.tokenName,
      scopes: ['read_repository', 'read_registry'],
      active: true,
      revoked: false,
      // GitLab reports no creation time: lifetimeDays before the expiry.
      createdAt: '2099-12-01T00:00:00.000Z',
      expiresAt: '2099-12-31',
      lastUsedAt: null,
    });
    expect(JSON.stringify(state)).not.toContain(current.value);
  });

  it('issues a new token beside the current one, with its username stored beside it, and verifies it', async () => {
    const { spec, current } = seed(scope);
    const issued = await source.issue(spec);
    const token = minted(issued.tokenId);
    expect(issued).toEqual({
      tokenId: String(token.id),
      value: token.value,
      expiresAt: defined(token.expiresAt ?? undefined).slice(0, 10),
      fields: { username: `gitlab+deploy-token-${token.id}` },
    });
    expect(token.name).toBe(spec.tokenName);
    expect(token.scopes).toEqual(spec.scopes);
    expect(world.state.deployTokenActive(current)).toBe(true);
    const calls = await countCalls(world.sim, () => source.verify(spec, issued.value, issued));
    expect(calls[`GET ${base}/:token_id`]).toBe(1);
  });

  it('refuses a value Git over HTTP does not take', async () => {
    const { spec } = seed(scope);
    const issued = await source.issue(spec);
    const failure = source.verify(spec, `${issued.value}x`, issued);
    await expect(failure).rejects.toThrow(ProviderError);
    await expect(failure).rejects.toThrow(
      /Git over HTTP refused to list the refs of platform\/deployer .*401/,
    );
    await expect(failure).rejects.not.toThrow(issued.value);
  });

  it('refuses a token whose scopes or expiry differ from the spec', async () => {
    const { spec } = seed(scope);
    const issued = await source.issue(spec);
    minted(issued.tokenId).scopes = ['read_repository'];
    await expect(source.verify(spec, issued.value, { ...issued, expiresAt: '2000-01-01' })).rejects.toThrow(
      /its scopes are read_repository; it expires \d{4}-\d\d-\d\d/,
    );
  });

  it('verifies a token without read_repository by GitLab answer alone', async () => {
    const { spec } = seed(scope, ['read_registry']);
    const issued = await source.issue(spec);
    await expect(source.verify(spec, issued.value, issued)).resolves.toBeUndefined();
  });

  it('revokes by deleting the token; a token already gone counts as revoked', async () => {
    const { spec, current } = seed(scope);
    await source.revoke(spec, { tokenId: String(current.id) });
    expect(world.state.deployTokens.has(current.id)).toBe(false);
    await expect(source.revoke(spec, { tokenId: String(current.id) })).resolves.toBeUndefined();
    await expect(source.inspect(spec, { tokenId: String(current.id) })).rejects.toMatchObject({
      kind: 'not-found',
    });
  });

  it('finds what a lost create left behind: active tokens of the name not known', async () => {
    const { spec, current } = seed(scope);
    world.sim.faults.dropAfterCommit({
      method: 'POST',
      route: base,
      n: world.sim.callsTotal('POST', base) + 1,
    });
    await expect(source.issue(spec)).rejects.toThrow(ProviderError);
    const expired = seed(scope).current;
    expired.name = spec.tokenName;
    expired.expiresAt = '2000-01-01T00:00:00.000Z';
    const orphans = await source.findOrphans(spec, new Date().toISOString(), [
      { tokenId: String(current.id) },
    ]);
    expect(orphans).toHaveLength(1);
    const orphan = minted(defined(orphans[0]).tokenId);
    expect(orphan.name).toBe(spec.tokenName);
    expect(orphan.id).not.toBe(current.id);
  });

  it('names GitLab refusals without a value', async () => {
    const { spec } = seed(scope);
    world.sim.faults.failNth({
      method: 'POST',
      route: base,
      n: world.sim.callsTotal('POST', base) + 1,
      status: 503,
    });
    const failure = source.issue(spec);
    await expect(failure).rejects.toMatchObject({ kind: 'transient', outcomeUnknown: true });
  });
});

it('refuses a project deploy token scope only groups have, as GitLab does', async () => {
  const { spec } = seed('project', ['read_virtual_registry']);
  await expect(source.issue(spec)).rejects.toThrow(/scopes does not have a valid value/);
});

it('refuses a stored id that is not a GitLab number, naming it', async () => {
  const { spec } = seed('project');
  await expect(source.inspect(spec, { tokenId: 'abc' })).rejects.toThrow(
    /"abc" is not a GitLab deploy token id/,
  );
});

it('needs Owner on the group: a Maintainer is refused', async () => {
  const { state, sim, project } = world;
  const maintainer = state.addUser({ username: 'group-maintainer' });
  const token = state.addToken({ userId: maintainer.id, name: 'ops', scopes: ['api'], expiresAt: null });
  const group = state.addGroup('team', { [maintainer.id]: 40 });
  project.members.set(maintainer.id, 40);
  const { GitLabClient } = await import('../../src/gitlab/client');
  const asMaintainer = new GitLabDeployTokens(new GitLabClient({ url: sim.url, token: token.value }));
  const base = {
    tokenName: 'x',
    scopes: ['read_repository'],
    lifetimeDays: 1,
    strategy: 'create-then-revoke' as const,
  };
  await expect(asMaintainer.issue({ ...base, scope: 'group', groupId: group.id })).rejects.toMatchObject({
    kind: 'auth',
    status: 403,
  });
  await expect(
    asMaintainer.issue({ ...base, scope: 'project', projectId: project.id }),
  ).resolves.toMatchObject({
    fields: { username: expect.stringMatching(/^gitlab\+deploy-token-\d+$/) },
  });
});
