import type { ActionsSecretSpec } from '../../src/github/scopes';
import type { SimCall } from '../sim/github/server';
import {
  answerMismatches,
  loadGitHubDescription,
  problems,
  requestMismatches,
  responseSchema,
  type OpenApi,
} from './openapi';
import { githubApi } from '../../src/github/client';
import { githubWorld, runsAdapter, secretsOf, type GitHubWorld } from './world';

let world: GitHubWorld;
let api: OpenApi;

beforeAll(async () => {
  world = await githubWorld();
  api = loadGitHubDescription();
});

afterAll(async () => {
  await world?.sim.close();
});

/** Every kind of answer the adapter can meet: each level's calls, a rotated key, and each failure. */
async function everyAnswer(): Promise<SimCall[]> {
  world.sim.calls.length = 0;
  const { state, sim, secrets } = world;
  for (const { spec, scope, base } of secretsOf(world, 'CONTRACT')) {
    const missing = await secrets.snapshot(spec);
    await secrets.write(spec, 'created');
    const existing = await secrets.snapshot(spec);
    sim.faults.afterNext({ method: 'GET', route: `${base}/public-key` }, () => state.rotateKey(scope));
    await secrets.write(spec, 'updated after a key rotation');
    await secrets.restore(spec, existing, 'created');
    await secrets.restore(spec, missing, undefined);
    await secrets.restore(spec, missing, undefined);
  }
  const selected: ActionsSecretSpec = {
    scope: 'organization',
    org: 'acme',
    name: 'CONTRACT_SELECTED',
    visibility: 'selected',
    selectedRepositories: ['app', 'api'],
  };
  await secrets.write(selected, 'for two repositories');
  await secrets.snapshot(selected);
  const spec: ActionsSecretSpec = {
    scope: 'repository',
    owner: 'acme',
    repo: 'app',
    name: 'CONTRACT_FAILURES',
  };
  const spent = state.addToken();
  state.exhaustRateLimit(spent, 60);
  const refused = [
    world.connect('ghp_notAToken').write(spec, 'x'),
    world.connect(state.addToken({ secrets: 'read' }).value).write(spec, 'x'),
    world.connect(state.addToken({ reaches: [] }).value).write(spec, 'x'),
    world.connect(spent.value).write(spec, 'x'),
    secrets.write({ ...selected, selectedRepositories: ['missing'] }, 'x'),
  ];
  const route = '/repos/{owner}/{repo}/actions/secrets/{secret_name}';
  const failures = [429, 403, 500, 502, 503, 422].map((status) => ({
    method: 'PUT',
    route,
    status,
    retryAfterSeconds: status === 429 || status === 403 ? 5 : undefined,
  }));
  for (const fault of failures) {
    sim.faults.inject(fault);
    refused.push(secrets.write(spec, 'x'));
  }
  for (const write of refused) await write.catch(() => undefined);
  await workflowRuns(spent.value);
  await secretScanningAlerts();
  return [...sim.calls];
}

/**
 * A secret scanning alert as alert intake fetches it, with its secret. Its 404 is left out: the description
 * documents it without a body, where GitHub (and the simulator) answer the `basic-error` JSON.
 */
async function secretScanningAlerts(): Promise<void> {
  const { state, sim, app, adminToken } = world;
  const alert = state.addSecretScanningAlert(app, 'glpat-contract-alert-value');
  const api = githubApi(sim.url, adminToken.value);
  await api.rest.secretScanning.getAlert({ owner: 'acme', repo: 'app', alert_number: alert.number });
}

/** The runs route through the overlap's adapter: runs of every kind, more than a page, and its failures. */
async function workflowRuns(spentToken: string): Promise<void> {
  const { state, sim, app, adminToken } = world;
  const hourAgo = Date.now() - 3_600_000;
  for (let i = 0; i < 105; i += 1)
    state.startRun(app, { name: 'CI', startedAt: new Date(hourAgo + i * 1000) });
  state.finishRun(state.startRun(app, { name: 'Deploy', startedAt: new Date(hourAgo) }), 'failure');
  state.finishRun(state.startRun(app, { name: 'Deploy', startedAt: new Date(hourAgo) }), 'success');
  state.startRun(app, { name: 'Release', startedAt: new Date(hourAgo), status: 'waiting' });
  const spec = { owner: 'acme', repo: 'app' };
  const switchedAt = new Date().toISOString();
  await runsAdapter(sim.url, adminToken.value).stillRunning(spec, switchedAt);
  // Completed and waiting runs too, which the adapter does not ask for, so their JSON is checked as well.
  const api = githubApi(sim.url, adminToken.value);
  await api.rest.actions.listWorkflowRunsForRepo({ ...spec, status: 'failure' });
  await api.rest.actions.listWorkflowRunsForRepo({ ...spec, per_page: 5 });
  const refusals = [state.addToken({ reaches: ['acme/api'] }).value, spentToken];
  for (const token of refusals)
    await runsAdapter(sim.url, token)
      .stillRunning(spec, switchedAt)
      .catch(() => 0);
  const route = '/repos/{owner}/{repo}/actions/runs';
  for (const status of [429, 500]) {
    sim.faults.inject({ method: 'GET', route, status, retryAfterSeconds: status === 429 ? 5 : undefined });
  }
  const failing = [runsAdapter(sim.url, adminToken.value), runsAdapter(sim.url, adminToken.value)];
  for (const adapter of failing) await adapter.stillRunning(spec, switchedAt).catch(() => undefined);
}

describe('the simulator keeps to GitHub’s OpenAPI description (@octokit/openapi)', () => {
  it('answers every call with the status, body and schema GitHub documents for that operation', async () => {
    const calls = await everyAnswer();
    const statuses = new Set(calls.map((call) => `${call.method} ${call.route} ${call.status}`));
    // The scenario reaches every route the adapter uses, with success and failure.
    expect([...new Set(calls.map((call) => `${call.method} ${call.route}`))].sort()).toEqual(
      [
        'GET /repos/{owner}/{repo}',
        ...[
          '/repos/{owner}/{repo}/actions/secrets',
          '/repos/{owner}/{repo}/environments/{environment_name}/secrets',
          '/orgs/{org}/actions/secrets',
        ].flatMap((base) => [
          `GET ${base}/public-key`,
          `GET ${base}/{secret_name}`,
          `PUT ${base}/{secret_name}`,
          `DELETE ${base}/{secret_name}`,
        ]),
        'GET /orgs/{org}/actions/secrets/{secret_name}/repositories',
        'GET /repos/{owner}/{repo}/actions/runs',
        'GET /repos/{owner}/{repo}/secret-scanning/alerts/{alert_number}',
      ].sort(),
    );
    for (const status of [200, 201, 204, 401, 403, 404, 422, 429, 500, 502, 503]) {
      expect([...statuses].some((entry) => entry.endsWith(` ${status}`))).toBe(true);
    }

    const runs = calls.filter((call) => call.route === '/repos/{owner}/{repo}/actions/runs');
    expect(runs.map((call) => call.status)).toEqual([200, 200, 200, 200, 404, 403, 429, 500]);

    expect(answerMismatches(api, calls)).toEqual([]);
  });

  it('is sent requests that match the documented request bodies', () => {
    expect(requestMismatches(api, world.sim.calls)).toEqual([]);
  });

  it('sends GitHub’s rate-limit headers with every authenticated answer', () => {
    const authenticated = world.sim.calls.filter(
      (call) => call.body === undefined || !/Bad credentials/.test(JSON.stringify(call.body)),
    );
    for (const call of authenticated) {
      expect(Object.keys(call.headers)).toEqual(
        expect.arrayContaining([
          'x-ratelimit-limit',
          'x-ratelimit-remaining',
          'x-ratelimit-reset',
          'x-ratelimit-used',
          'x-ratelimit-resource',
        ]),
      );
    }
  });
});

describe('the contract checker', () => {
  it('notices an answer that drifts from the description', () => {
    const route = '/repos/{owner}/{repo}/actions/secrets/{secret_name}';
    const { schema } = responseSchema(api, 'GET', route, 200);
    expect(problems(api, schema ?? {}, { name: 'X', created_at: '2026-01-01T00:00:00Z' })).toEqual([
      '$.updated_at: missing',
    ]);
    expect(problems(api, schema ?? {}, { name: 1, created_at: 'yesterday', updated_at: 'now' })).toEqual([
      '$.name: expected string, found integer',
      '$.created_at: not a date-time',
      '$.updated_at: not a date-time',
    ]);
    const put = responseSchema(api, 'PUT', route, 201).schema ?? {};
    expect(problems(api, put, { id: 1 })).toEqual(['$.id: not allowed']);
  });
});
