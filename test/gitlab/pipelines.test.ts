import { gitlabApi } from '../../src/gitlab/client';
import type { CanaryOptions, SimProject, SimToken } from '../sim/gitlab/state';
import { defined, gitlabWorld, type GitLabWorld } from './world';

/** The canary pipeline as the rotation drives it: through @gitbeaker/rest, on the simulator's clock. */

let world: GitLabWorld;
let developer: SimToken;
let reporter: SimToken;
let projects = 0;

beforeAll(async () => {
  world = await gitlabWorld();
  const member = (username: string) => {
    const user = world.state.addUser({ username });
    return world.state.addToken({ userId: user.id, name: username, scopes: ['api'], expiresAt: null });
  };
  developer = member('developer');
  reporter = member('reporter');
});
afterAll(() => world.sim.close());

// The simulator's clock stands still unless a test moves it, so a job ends exactly when the test says.
const realClock = () => new Date();
beforeEach(() => {
  const at = Date.now();
  world.state.now = () => new Date(at);
});
afterEach(() => {
  world.state.now = realClock;
});

/** Moves the simulator's clock `ms` on. */
function later(ms: number): void {
  const at = world.state.now().getTime() + ms;
  world.state.now = () => new Date(at);
}

/** A token the canary job can use: one GitLab still accepts. */
const accepted = (value: string | undefined) =>
  [...world.state.tokens.values()].some((token) => token.value === value && world.state.isActive(token));

/** A project with a developer and a reporter, `DEPLOY_TOKEN` holding a live token, and (unless `null`) a canary. */
function canaryProject(canary: Partial<CanaryOptions> | null = {}) {
  const { state } = world;
  const project: SimProject = state.addProject(`platform/canary-${(projects += 1)}`, {
    [developer.userId]: 30,
    [reporter.userId]: 20,
  });
  const deployToken = state.addToken({
    userId: world.root.id,
    name: 'deploy',
    scopes: ['read_api'],
    expiresAt: null,
  });
  state.addVariable(project, { key: 'DEPLOY_TOKEN', value: deployToken.value, masked: true });
  if (canary !== null) state.defineCanary(project, { reads: 'DEPLOY_TOKEN', check: accepted, ...canary });
  return { project, deployToken };
}

const api = (token: SimToken = developer) => gitlabApi(world.sim.url, token.value);
const refusal = (status: number, description: string) => ({ cause: { description, response: { status } } });

describe('GitLab pipelines for the canary (POST /projects/:id/pipeline, GET and cancel)', () => {
  it('creates a pipeline whose job runs at once, then passes when the token it read still works', async () => {
    const { project } = canaryProject();
    const created = await api().Pipelines.create(project.id, 'main');
    expect(created).toMatchObject({
      iid: 1,
      project_id: project.id,
      ref: 'main',
      sha: project.branches.get('main'),
      status: 'running',
      source: 'api',
      finished_at: null,
    });
    expect(new URL(created.web_url).pathname).toBe(`/${project.path}/-/pipelines/${created.id}`);
    expect(await api().Pipelines.show(project.path, created.id)).toMatchObject({ status: 'running' });

    later(100);
    expect(await api().Pipelines.show(project.path, created.id)).toMatchObject({
      status: 'success',
      finished_at: world.state.now().toISOString(),
      detailed_status: { group: 'success', label: 'passed' },
    });
    const jobs = await api().Jobs.all(project.id);
    expect(jobs.map((job) => [job.name, job.status, job.pipeline.id])).toEqual([
      ['canary', 'success', created.id],
    ]);
    expect(defined(project.pipelines[0]).variableKeys).toEqual([]);
  });

  it('fails when the token is revoked while the job runs: the check comes when the job ends', async () => {
    const { project, deployToken } = canaryProject({ runsForMs: 5_000 });
    const created = await api().Pipelines.create(project.id, 'main');
    deployToken.revoked = true;
    later(4_999);
    expect(await api().Pipelines.show(project.id, created.id)).toMatchObject({ status: 'running' });
    later(1);
    expect(await api().Pipelines.show(project.id, created.id)).toMatchObject({ status: 'failed' });
    expect((await api().Jobs.all(project.id)).map((job) => job.status)).toEqual(['failed']);
  });

  it('lets a pipeline variable override the project variable of the same key, and records only its key', async () => {
    const { project, deployToken } = canaryProject({ ref: 'canary', job: 'use-token' });
    project.pipelineVariablesMinimumRole = 'developer';
    deployToken.revoked = true;
    const fresh = world.state.addToken({
      userId: world.root.id,
      name: 'new',
      scopes: ['api'],
      expiresAt: null,
    });
    const overridden = await api().Pipelines.create(project.id, 'canary', {
      variables: [{ key: 'DEPLOY_TOKEN', value: fresh.value, variable_type: 'env_var' }],
    });
    const projectValue = await api().Pipelines.create(project.id, 'canary');
    later(100);
    expect((await api().Pipelines.show(project.id, overridden.id)).status).toBe('success');
    expect((await api().Pipelines.show(project.id, projectValue.id)).status).toBe('failed');
    expect(project.pipelines.map((p) => [p.ref, p.variableKeys])).toEqual([
      ['canary', ['DEPLOY_TOKEN']],
      ['canary', []],
    ]);
    expect((await api().Jobs.all(project.id)).map((job) => job.name)).toEqual(['use-token', 'use-token']);
  });

  it('cancels a hanging pipeline and its job; cancelling a finished pipeline answers it unchanged', async () => {
    const { project } = canaryProject({ hangs: true });
    const hanging = await api().Pipelines.create(project.id, 'main');
    later(3_600_000);
    expect((await api().Pipelines.show(project.id, hanging.id)).status).toBe('running');
    expect(await api().Pipelines.cancel(project.id, hanging.id)).toMatchObject({
      id: hanging.id,
      status: 'canceled',
      finished_at: world.state.now().toISOString(),
    });
    expect((await api().Jobs.all(project.id)).map((job) => job.status)).toEqual(['canceled']);
    expect((await api().Pipelines.cancel(project.id, hanging.id)).status).toBe('canceled');

    const passing = canaryProject().project;
    const passed = await api().Pipelines.create(passing.id, 'main');
    later(100);
    expect((await api().Pipelines.cancel(passing.id, passed.id)).status).toBe('success');
  });

  it('answers 400 for a branch without CI configuration and for an unknown branch, creating nothing', async () => {
    const { project } = canaryProject(null);
    await expect(api().Pipelines.create(project.id, 'main')).rejects.toMatchObject(
      refusal(400, '{"base":["Missing CI config file"]}'),
    );
    await expect(api().Pipelines.create(project.id, 'no-such-branch')).rejects.toMatchObject(
      refusal(400, '{"base":["Reference not found"]}'),
    );
    expect(project.pipelines).toEqual([]);
    expect(project.jobs).toEqual([]);
  });

  it('refuses pipeline variables below the project’s minimum role, and a key given twice, with 400', async () => {
    const { project } = canaryProject();
    const variables = [{ key: 'DEPLOY_TOKEN', value: 'glpat-not-a-real-token' }];
    await expect(api().Pipelines.create(project.id, 'main', { variables })).rejects.toMatchObject(
      refusal(400, '{"base":["Insufficient permissions to set pipeline variables"]}'),
    );
    project.members.set(developer.userId, 40);
    await expect(
      api().Pipelines.create(project.id, 'main', { variables: [...variables, ...variables] }),
    ).rejects.toMatchObject(refusal(400, '{"base":["Duplicate variable name: DEPLOY_TOKEN"]}'));
    expect((await api().Pipelines.create(project.id, 'main', { variables })).status).toBe('running');
    project.pipelineVariablesMinimumRole = 'no_one_allowed';
    await expect(
      api(world.adminToken).Pipelines.create(project.id, 'main', { variables }),
    ).rejects.toMatchObject(refusal(400, '{"base":["Insufficient permissions to set pipeline variables"]}'));
    expect((await api().Pipelines.create(project.id, 'main')).status).toBe('running');
    expect(project.pipelines.map((p) => p.variableKeys)).toEqual([['DEPLOY_TOKEN'], []]);
  });

  it('refuses a reporter with 403, hides the project from non-members with 404, and 404s an unknown pipeline', async () => {
    const { project } = canaryProject();
    await expect(api(reporter).Pipelines.create(project.id, 'main')).rejects.toMatchObject(
      refusal(403, '403 Forbidden'),
    );
    const created = await api().Pipelines.create(project.id, 'main');
    expect((await api(reporter).Pipelines.show(project.id, created.id)).id).toBe(created.id);
    await expect(api(reporter).Pipelines.cancel(project.id, created.id)).rejects.toMatchObject(
      refusal(403, '403 Forbidden'),
    );
    await expect(api(world.maintainerToken).Pipelines.create(project.id, 'main')).rejects.toMatchObject(
      refusal(404, '404 Project Not Found'),
    );
    await expect(api().Pipelines.create(999_999, 'main')).rejects.toMatchObject(
      refusal(404, '404 Project Not Found'),
    );
    await expect(api().Pipelines.show(project.id, 999_999)).rejects.toMatchObject(
      refusal(404, '404 Not found'),
    );
    expect(project.pipelines).toHaveLength(1);
  });
});
