import { GitLabCiVariables, type CiVariableSpec } from '../../src/gitlab/ci-variables';
import type { SimNamespace, SimVariable } from '../sim/gitlab/state';
import { countCalls, gitlabWorld, type GitLabWorld } from './world';

let world: GitLabWorld;
let target: GitLabCiVariables;

beforeAll(async () => {
  world = await gitlabWorld();
  target = new GitLabCiVariables(world.admin);
});
afterAll(() => world.sim.close());

let keys = 0;
const OLD = 'old-value-0123456789';
const NEW = 'new-value-9876543210';

function projectSpec(environmentScope = 'production'): CiVariableSpec {
  return {
    scope: 'project',
    projectId: world.project.path,
    key: `DEPLOY_TOKEN_${++keys}`,
    environmentScope,
    masked: true,
    protected: true,
    variableType: 'env_var',
  };
}

const variablesOf = (namespace: SimNamespace, key: string): SimVariable[] =>
  namespace.variables.filter((v) => v.key === key).map((v) => ({ ...v }));

/** A hidden production variable holding OLD, its state as seeded, and the adapter's snapshot of it. */
async function seedHidden(spec: CiVariableSpec) {
  world.state.addVariable(world.project, {
    key: spec.key,
    value: OLD,
    environmentScope: 'production',
    masked: true,
    hidden: true,
    protected: true,
  });
  return { before: variablesOf(world.project, spec.key), snapshot: await target.snapshot(spec) };
}

describe('GitLab CI/CD variables', () => {
  it('writes and restores the variable of one environment scope, leaving its namesakes alone', async () => {
    const spec = projectSpec('production');
    world.state.addVariable(world.project, {
      key: spec.key,
      value: 'staging-value-123',
      environmentScope: 'staging',
    });
    world.state.addVariable(world.project, {
      key: spec.key,
      value: OLD,
      environmentScope: 'production',
      masked: false,
      protected: false,
      raw: true,
      variableType: 'file',
      description: 'set by hand',
    });
    const before = variablesOf(world.project, spec.key);

    const snapshot = await target.snapshot(spec);
    expect(JSON.stringify(snapshot)).not.toContain(OLD);
    await target.write(spec, NEW);
    const written = world.project.variables.find(
      (v) => v.key === spec.key && v.environmentScope === 'production',
    );
    expect(written).toMatchObject({ value: NEW, masked: true, protected: true, variableType: 'env_var' });

    await target.restore(spec, snapshot, OLD);
    expect(variablesOf(world.project, spec.key)).toEqual(before);
  });

  it('creates a missing variable, and restoring removes it again', async () => {
    const spec = projectSpec();
    const snapshot = await target.snapshot(spec);
    expect(snapshot).toEqual({ exists: false });

    await target.write(spec, NEW);
    expect(variablesOf(world.project, spec.key)).toEqual([
      expect.objectContaining({ value: NEW, environmentScope: 'production', masked: true, protected: true }),
    ]);
    await target.restore(spec, snapshot, undefined);
    expect(variablesOf(world.project, spec.key)).toEqual([]);
    await target.restore(spec, snapshot, undefined);
  });

  it('restores a hidden variable, whose value GitLab never shows, from the value the caller kept', async () => {
    const spec = projectSpec();
    const { before, snapshot } = await seedHidden(spec);
    expect(snapshot).toMatchObject({ exists: true, attributes: { hidden: true, masked: true } });

    await target.write(spec, NEW);
    await target.restore(spec, snapshot, OLD);
    expect(variablesOf(world.project, spec.key)).toEqual(before);
  });

  it('recreates a variable deleted meanwhile with its prior attributes, hidden included', async () => {
    const spec = projectSpec();
    const { before, snapshot } = await seedHidden(spec);
    world.project.variables = world.project.variables.filter((v) => v.key !== spec.key);

    await target.restore(spec, snapshot, OLD);
    expect(variablesOf(world.project, spec.key)).toEqual(before);
  });

  it('refuses to restore an existing variable without its previous value', async () => {
    const spec = projectSpec();
    world.state.addVariable(world.project, { key: spec.key, value: OLD, environmentScope: 'production' });
    const snapshot = await target.snapshot(spec);
    await expect(target.restore(spec, snapshot, undefined)).rejects.toThrow(/no previous value to restore/);
  });

  it('handles group variables the same way', async () => {
    const spec: CiVariableSpec = { ...projectSpec('*'), scope: 'group', groupId: world.group.path };
    world.state.addVariable(world.group, { key: spec.key, value: OLD, masked: false, protected: false });
    const before = variablesOf(world.group, spec.key);
    const snapshot = await target.snapshot(spec);
    await target.write(spec, NEW);
    expect(variablesOf(world.group, spec.key)[0]?.value).toBe(NEW);
    await target.restore(spec, snapshot, OLD);
    expect(variablesOf(world.group, spec.key)).toEqual(before);
  });

  it('refuses a value GitLab cannot mask, with GitLab message and without the value', async () => {
    const spec = projectSpec();
    const error = await target.write(spec, 'short').catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'conflict', status: 400, retryable: false });
    expect((error as Error).message).toMatch(
      /write \(create\) project platform\/deployer CI variable .* HTTP 400: \{"value":\["is invalid"\]\}/,
    );
  });

  it('counts GitLab calls: snapshot 1, write 1 (2 when missing), restore 1 (2 when deleted meanwhile)', async () => {
    const spec = projectSpec();
    const snapshotMissing = await target.snapshot(spec);
    expect(await countCalls(world.sim, () => target.write(spec, NEW))).toEqual({
      'PUT /projects/:id/variables/:key': 1,
      'POST /projects/:id/variables': 1,
    });
    let snapshot = snapshotMissing;
    expect(
      await countCalls(world.sim, async () => {
        snapshot = await target.snapshot(spec);
      }),
    ).toEqual({ 'GET /projects/:id/variables/:key': 1 });
    expect(await countCalls(world.sim, () => target.write(spec, OLD))).toEqual({
      'PUT /projects/:id/variables/:key': 1,
    });
    expect(await countCalls(world.sim, () => target.restore(spec, snapshot, NEW))).toEqual({
      'PUT /projects/:id/variables/:key': 1,
    });
    expect(await countCalls(world.sim, () => target.restore(spec, snapshotMissing, undefined))).toEqual({
      'DELETE /projects/:id/variables/:key': 1,
    });
  });
});
