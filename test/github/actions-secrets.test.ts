import { ProviderError } from '../../src/providers/errors';
import type { ActionsSecretSpec } from '../../src/github/scopes';
import { githubActionsSecret } from '../../src/kinds/github-actions-secret';
import { countCalls, githubWorld, secretsOf, type GitHubWorld } from './world';

let world: GitHubWorld;

beforeAll(async () => {
  world = await githubWorld();
});

afterAll(async () => {
  await world?.sim.close();
});

beforeEach(() => world.sim.faults.clear());

const caseOf = (level: string, name: string) => {
  const found = secretsOf(world, name).find((c) => c.level === level);
  if (found === undefined) throw new Error(`no level ${level}`);
  return found;
};

describe.each(['repository', 'environment', 'organization'])('%s secrets', (level) => {
  it('writes a secret that did not exist: the simulator decrypts the value, 2 calls', async () => {
    const { spec, scope, base } = caseOf(level, `NEW_${level.toUpperCase()}`);
    expect(await world.secrets.snapshot(spec)).toEqual({ exists: false });
    const calls = await countCalls(world.sim, () => world.secrets.write(spec, 'glpat-first-value'));

    expect(world.state.plaintext(scope, spec.name)).toBe('glpat-first-value');
    expect(calls).toEqual({ [`GET ${base}/public-key`]: 1, [`PUT ${base}/{secret_name}`]: 1 });
    expect(world.sim.calls.map((call) => call.status)).toEqual([200, 201]);
  });

  it('updates an existing secret (204) and restores it to the previous value from its snapshot', async () => {
    const { spec, scope, base } = caseOf(level, `KEPT_${level.toUpperCase()}`);
    const seeded = world.state.setSecret(scope, spec.name, 'old-value', { visibility: 'private' });
    const snapshot = await world.secrets.snapshot(spec);
    expect(snapshot).toEqual({
      exists: true,
      attributes: {
        updatedAt: seeded.updatedAt,
        ...(level === 'organization' ? { visibility: 'private' } : {}),
      },
    });

    await world.secrets.write(spec, 'new-value');
    expect(world.sim.calls.at(-1)?.status).toBe(204);
    expect(world.state.plaintext(scope, spec.name)).toBe('new-value');

    const calls = await countCalls(world.sim, () => world.secrets.restore(spec, snapshot, 'old-value'));
    expect(world.state.plaintext(scope, spec.name)).toBe('old-value');
    expect(calls).toEqual({ [`GET ${base}/public-key`]: 1, [`PUT ${base}/{secret_name}`]: 1 });
  });

  it('restores a secret that did not exist before by deleting it, and counts one already gone as restored', async () => {
    const { spec, scope, base } = caseOf(level, `GONE_${level.toUpperCase()}`);
    const snapshot = await world.secrets.snapshot(spec);
    await world.secrets.write(spec, 'new-value');

    const calls = await countCalls(world.sim, () => world.secrets.restore(spec, snapshot, undefined));
    expect(scope.secrets.has(spec.name)).toBe(false);
    expect(calls).toEqual({ [`DELETE ${base}/{secret_name}`]: 1 });
    await expect(world.secrets.restore(spec, snapshot, undefined)).resolves.toBeUndefined();
  });

  it('fetches the key again and puts once more when the key changed between fetch and put (422)', async () => {
    const { spec, scope, base } = caseOf(level, `ROTATED_${level.toUpperCase()}`);
    world.sim.faults.afterNext({ method: 'GET', route: `${base}/public-key` }, () =>
      world.state.rotateKey(scope),
    );
    const calls = await countCalls(world.sim, () => world.secrets.write(spec, 'sealed-twice'));

    expect(world.state.plaintext(scope, spec.name)).toBe('sealed-twice');
    expect(scope.secrets.get(spec.name)?.keyId).toBe(world.state.currentKey(scope).keyId);
    expect(calls).toEqual({ [`GET ${base}/public-key`]: 2, [`PUT ${base}/{secret_name}`]: 2 });
    expect(world.sim.calls.map((call) => call.status)).toEqual([200, 422, 200, 201]);
  });

  it('does not put again after a 422 when the key is unchanged: a conflict, not retried', async () => {
    const { spec, base } = caseOf(level, `REFUSED_${level.toUpperCase()}`);
    world.sim.faults.inject({ method: 'PUT', route: `${base}/{secret_name}`, status: 422 });
    let error: unknown;
    const calls = await countCalls(world.sim, async () => {
      error = await world.secrets.write(spec, 'never-stored').catch((e: unknown) => e);
    });

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: 'conflict', status: 422, retryable: false });
    expect(calls).toEqual({ [`GET ${base}/public-key`]: 2, [`PUT ${base}/{secret_name}`]: 1 });
  });
});

describe('organization secrets with selected repositories', () => {
  const spec: ActionsSecretSpec = {
    scope: 'organization',
    org: 'acme',
    name: 'SELECTED_TOKEN',
    visibility: 'selected',
    selectedRepositories: ['app', 'api'],
  };

  it('writes with the ids of the named repositories, and restores the visibility and ids it found', async () => {
    world.state.setSecret(world.org, spec.name, 'old-value', {
      visibility: 'selected',
      selectedRepositoryIds: [world.api.id],
    });
    const snapshot = await world.secrets.snapshot(spec);
    expect(snapshot).toMatchObject({
      exists: true,
      attributes: { visibility: 'selected', selectedRepositoryIds: String(world.api.id) },
    });

    const calls = await countCalls(world.sim, () => world.secrets.write(spec, 'new-value'));
    expect(calls).toEqual({
      'GET /repos/{owner}/{repo}': 2,
      'GET /orgs/{org}/actions/secrets/public-key': 1,
      'PUT /orgs/{org}/actions/secrets/{secret_name}': 1,
    });
    expect(world.org.secrets.get(spec.name)).toMatchObject({
      visibility: 'selected',
      selectedRepositoryIds: [world.app.id, world.api.id],
    });
    expect(world.state.plaintext(world.org, spec.name)).toBe('new-value');

    await world.secrets.restore(spec, snapshot, 'old-value');
    expect(world.org.secrets.get(spec.name)).toMatchObject({
      visibility: 'selected',
      selectedRepositoryIds: [world.api.id],
    });
    expect(world.state.plaintext(world.org, spec.name)).toBe('old-value');
  });

  it('restores a secret that had visibility "all" to "all"', async () => {
    const name = 'WAS_ALL';
    world.state.setSecret(world.org, name, 'old-value', { visibility: 'all' });
    const snapshot = await world.secrets.snapshot({ ...spec, name });
    await world.secrets.write({ ...spec, name }, 'new-value');
    expect(world.org.secrets.get(name)?.visibility).toBe('selected');

    await world.secrets.restore({ ...spec, name }, snapshot, 'old-value');
    expect(world.org.secrets.get(name)).toMatchObject({ visibility: 'all' });
    expect(world.state.plaintext(world.org, name)).toBe('old-value');
  });

  it('names a selected repository that does not exist', async () => {
    const error = await world.secrets
      .write({ ...spec, selectedRepositories: ['missing'] }, 'value')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'not-found', status: 404 });
    expect(String(error)).toContain('repository acme/missing');
  });
});

describe('restore without a previous value', () => {
  it('refuses, naming the secret', async () => {
    const { spec } = caseOf('repository', 'NO_PREVIOUS');
    const snapshot = { exists: true as const, attributes: { updatedAt: '2026-01-01T00:00:00Z' } };
    const error = await world.secrets.restore(spec, snapshot, undefined).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'permanent' });
    expect(String(error)).toContain('repository acme/app secret NO_PREVIOUS');
  });
});

describe('the inventory entry as a spec', () => {
  it.each([
    [
      { repository: 'acme/app', name: 'DEPLOY_TOKEN' },
      'repository acme/app secret DEPLOY_TOKEN',
      { scope: 'repository', owner: 'acme', repo: 'app', name: 'DEPLOY_TOKEN' },
    ],
    [
      { repository: 'acme/app', environment: 'production', name: 'X' },
      'repository acme/app environment production secret X',
      { scope: 'environment', owner: 'acme', repo: 'app', environment: 'production', name: 'X' },
    ],
    [
      { organization: 'acme', visibility: 'selected', selectedRepositories: ['app'], name: 'X' },
      'organization acme secret X',
      {
        scope: 'organization',
        org: 'acme',
        visibility: 'selected',
        selectedRepositories: ['app'],
        name: 'X',
      },
    ],
    [
      { organization: 'acme', visibility: 'all', name: 'X' },
      'organization acme secret X',
      { scope: 'organization', org: 'acme', visibility: 'all', selectedRepositories: [], name: 'X' },
    ],
  ])('%j is %s', (fields, name, spec) => {
    const entry = githubActionsSecret.entry.parse({
      kind: 'github-actions-secret',
      github: 'github-com',
      ...fields,
    });
    expect(githubActionsSecret.spec(entry)).toEqual({ name, spec });
  });
});
