import { z } from 'zod';
import { githubApi } from '../../src/github/client';
import type { CanaryOptions, SimToken } from '../sim/github/state';
import { answerMismatches, loadGitHubDescription, requestMismatches, type OpenApi } from './openapi';
import { githubWorld, type GitHubWorld } from './world';

/** The canary workflow as the rotation drives it: through @octokit/rest, on the simulator's clock. */

let world: GitHubWorld;
let description: OpenApi;
const repo = { owner: 'acme', repo: 'app' };

beforeAll(async () => {
  world = await githubWorld();
  description = loadGitHubDescription();
});
afterAll(async () => {
  await world?.sim.close();
});

// The simulator's clock stands still unless a test moves it, so a run ends exactly when the test says.
const realClock = () => new Date();
beforeEach(() => {
  const at = Date.now();
  world.state.now = () => new Date(at);
  world.sim.calls.length = 0;
  world.app.runs.length = 0;
  world.app.workflows.clear();
  world.app.secrets.clear();
  world.org.secrets.clear();
  world.production.secrets.clear();
});
afterEach(() => {
  world.state.now = realClock;
  // Every answer of the test, and every request, as GitHub's OpenAPI description documents them.
  expect(answerMismatches(description, world.sim.calls)).toEqual([]);
  expect(requestMismatches(description, world.sim.calls)).toEqual([]);
});

/** Moves the simulator's clock `ms` on. */
function later(ms: number): void {
  const at = world.state.now().getTime() + ms;
  world.state.now = () => new Date(at);
}

/** A token the canary run can use: one the simulated GitHub still accepts. */
const accepted = (value: string | undefined) => value !== undefined && world.state.tokens.has(value);

/** `DEPLOY_TOKEN` in acme/app holding a live token, and the canary workflow `canary.yml` reading it. */
function canary(options: Partial<CanaryOptions> = {}) {
  const deployToken = world.state.addToken({ login: 'deployer' });
  world.state.setSecret(world.app, 'DEPLOY_TOKEN', deployToken.value);
  const workflow = world.state.defineCanary(world.app, {
    workflow: 'canary.yml',
    reads: 'DEPLOY_TOKEN',
    check: accepted,
    ...options,
  });
  return { deployToken, workflow };
}

const api = (token: SimToken = world.adminToken) => githubApi(world.sim.url, token.value);
const dispatch = (extra: Record<string, unknown> = {}, token?: SimToken) =>
  api(token).rest.actions.createWorkflowDispatch({
    ...repo,
    workflow_id: 'canary.yml',
    ref: 'main',
    ...extra,
  });
// Octokit types this operation's answer as having no body (`never`): the run's details are checked here.
const RunDetails = z.object({ workflow_run_id: z.number(), run_url: z.url(), html_url: z.url() });
/** Dispatches with `return_run_details`, and the run's details from the 200 answer. */
const dispatchRun = async (extra: Record<string, unknown> = {}) => {
  const answer = await dispatch({ return_run_details: true, ...extra });
  expect(answer.status).toBe(200);
  return RunDetails.parse(answer.data);
};
const refusal = (status: number, message: string) => ({ status, response: { data: { message } } });

describe('workflow_dispatch for the canary (dispatch, get and cancel a run)', () => {
  it('answers 200 with the run’s ids when asked, and the run passes when the token it read still works', async () => {
    canary();
    const data = await dispatchRun();
    const run = world.app.runs[0];
    expect(data).toEqual({
      workflow_run_id: run?.id,
      run_url: `${world.sim.url}/repos/acme/app/actions/runs/${run?.id}`,
      html_url: `https://github.com/acme/app/actions/runs/${run?.id}`,
    });

    const get = () => api().rest.actions.getWorkflowRun({ ...repo, run_id: data.workflow_run_id });
    expect((await get()).data).toMatchObject({
      status: 'in_progress',
      conclusion: null,
      event: 'workflow_dispatch',
      head_branch: 'main',
      name: 'canary',
      path: '.github/workflows/canary.yml',
      actor: { login: world.adminToken.login },
      run_started_at: world.state
        .now()
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z'),
    });
    later(100);
    expect((await get()).data).toMatchObject({ status: 'completed', conclusion: 'success' });
  });

  it('answers 204 without return_run_details; the run is found in the runs list by event and branch', async () => {
    canary();
    world.state.startRun(world.app, { name: 'CI' });
    const answer = await dispatch({ inputs: {} });
    expect(answer.status).toBe(204);
    const { data } = await api().rest.actions.listWorkflowRunsForRepo({
      ...repo,
      event: 'workflow_dispatch',
      branch: 'main',
    });
    expect(data.workflow_runs.map((run) => [run.id, run.name, run.status])).toEqual([
      [world.app.runs[1]?.id, 'canary', 'in_progress'],
    ]);
  });

  it('answers 200 without the flag to a client asking for API version 2026-03-10', async () => {
    canary();
    const answer = await dispatch({ headers: { 'x-github-api-version': '2026-03-10' } });
    expect(answer.status).toBe(200);
    expect(RunDetails.parse(answer.data).workflow_run_id).toBe(world.app.runs[0]?.id);
  });

  it('fails when the token is revoked while the run goes: the check comes when it ends', async () => {
    const { deployToken } = canary({ runsForMs: 5_000 });
    const data = await dispatchRun();
    world.state.tokens.delete(deployToken.value);
    later(4_999);
    const get = async () =>
      (await api().rest.actions.getWorkflowRun({ ...repo, run_id: data.workflow_run_id })).data;
    expect(await get()).toMatchObject({ status: 'in_progress', conclusion: null });
    later(1);
    expect(await get()).toMatchObject({ status: 'completed', conclusion: 'failure' });
  });

  it('reads the repository secret over an organization secret of the same name, and records input keys only', async () => {
    const { deployToken } = canary({ inputs: ['reason'] });
    world.state.tokens.delete(deployToken.value);
    const live = world.state.addToken({ login: 'org-deployer' });
    world.state.setSecret(world.org, 'DEPLOY_TOKEN', live.value, { visibility: 'all' });
    await dispatch({ inputs: { reason: 'rotation' } });
    world.app.secrets.delete('DEPLOY_TOKEN');
    await dispatch();
    later(100);
    const { data } = await api().rest.actions.listWorkflowRunsForRepo({
      ...repo,
      event: 'workflow_dispatch',
    });
    expect(data.workflow_runs.map((run) => [run.run_number, run.conclusion])).toEqual([
      [2, 'success'],
      [1, 'failure'],
    ]);
    expect(world.app.runs.map((run) => run.inputKeys)).toEqual([['reason'], []]);
  });

  it('reads the secret of the environment its job deploys to over the repository’s', async () => {
    const { deployToken } = canary({ environment: 'production' });
    world.state.tokens.delete(deployToken.value);
    world.state.setSecret(world.production, 'DEPLOY_TOKEN', world.state.addToken().value);
    const { workflow_run_id: run_id } = await dispatchRun();
    world.production.secrets.clear();
    const other = (await dispatchRun()).workflow_run_id;
    later(100);
    const conclusion = async (id: number) =>
      (await api().rest.actions.getWorkflowRun({ ...repo, run_id: id })).data.conclusion;
    expect([await conclusion(run_id), await conclusion(other)]).toEqual(['success', 'failure']);
  });

  it('cancels a hanging run with 202, and answers 409 once it is completed', async () => {
    canary({ hangs: true });
    const run_id = (await dispatchRun()).workflow_run_id;
    later(3_600_000);
    expect((await api().rest.actions.getWorkflowRun({ ...repo, run_id })).data.status).toBe('in_progress');
    expect((await api().rest.actions.cancelWorkflowRun({ ...repo, run_id })).status).toBe(202);
    expect((await api().rest.actions.getWorkflowRun({ ...repo, run_id })).data).toMatchObject({
      status: 'completed',
      conclusion: 'cancelled',
    });
    await expect(api().rest.actions.cancelWorkflowRun({ ...repo, run_id })).rejects.toMatchObject(
      refusal(409, 'Cannot cancel a workflow run that is completed.'),
    );
  });

  it('answers 404 for an unknown workflow or run, 422 for a workflow without the trigger, an unknown ref or inputs', async () => {
    const { workflow } = canary();
    world.state.defineWorkflow(world.app, { file: 'ci.yml', name: 'CI' });
    await expect(dispatch({ workflow_id: 'missing.yml' })).rejects.toMatchObject(refusal(404, 'Not Found'));
    await expect(dispatch({ workflow_id: 'ci.yml' })).rejects.toMatchObject(
      refusal(422, "Workflow does not have 'workflow_dispatch' trigger"),
    );
    await expect(dispatch({ ref: 'no-such-branch' })).rejects.toMatchObject(
      refusal(422, 'No ref found for: no-such-branch'),
    );
    await expect(dispatch({ inputs: { extra: 'x' } })).rejects.toMatchObject(
      refusal(422, 'Unexpected inputs provided: ["extra"]'),
    );
    await expect(api().rest.actions.getWorkflowRun({ ...repo, run_id: 1 })).rejects.toMatchObject(
      refusal(404, 'Not Found'),
    );
    expect(world.app.runs).toEqual([]);
    expect((await dispatch({ workflow_id: workflow.id, ref: 'refs/heads/main' })).status).toBe(204);
    expect(world.app.runs.map((run) => run.headBranch)).toEqual(['main']);
  });

  it('refuses a token that cannot write with 403, and hides the repository from one that cannot reach it', async () => {
    canary();
    const readOnly = world.state.addToken({ secrets: 'read' });
    await expect(dispatch({}, readOnly)).rejects.toMatchObject(
      refusal(403, 'Resource not accessible by personal access token'),
    );
    await expect(dispatch({}, world.state.addToken({ reaches: ['acme/api'] }))).rejects.toMatchObject(
      refusal(404, 'Not Found'),
    );
    const data = await dispatchRun();
    await expect(
      api(readOnly).rest.actions.cancelWorkflowRun({ ...repo, run_id: data.workflow_run_id }),
    ).rejects.toMatchObject(refusal(403, 'Resource not accessible by personal access token'));
    expect(world.app.runs.map((run) => run.status)).toEqual(['in_progress']);
  });
});
