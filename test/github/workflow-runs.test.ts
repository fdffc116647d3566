import { githubApi } from '../../src/github/client';
import { ProviderError } from '../../src/providers/errors';
import { countCalls, githubWorld, runsAdapter, type GitHubWorld } from './world';

let world: GitHubWorld;
const spec = { owner: 'acme', repo: 'app' };
const ROUTE = '/repos/{owner}/{repo}/actions/runs';
const LIST = `GET ${ROUTE}`;

beforeAll(async () => {
  world = await githubWorld();
});

afterAll(async () => {
  await world?.sim.close();
});

beforeEach(() => {
  world.sim.faults.clear();
  for (const repository of [world.app, world.api]) {
    repository.runs.length = 0;
    repository.workflows.clear();
  }
});

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);
const runs = () => runsAdapter(world.sim.url, world.adminToken.value);

describe('GitHubRepositoryRuns.stillRunning', () => {
  it('names the runs in progress that started before the switch, with their html_url', async () => {
    const { state, app, api } = world;
    const before = state.startRun(app, { name: 'Deploy', startedAt: minutesAgo(10) });
    const alsoBefore = state.startRun(app, { name: 'CI', startedAt: minutesAgo(8) });
    state.finishRun(state.startRun(app, { name: 'CI', startedAt: minutesAgo(9) }), 'success');
    state.finishRun(state.startRun(app, { name: 'Nightly', startedAt: minutesAgo(9) }), 'failure');
    state.startRun(app, { name: 'Waits', startedAt: minutesAgo(9), status: 'queued' });
    state.startRun(app, { name: 'After', startedAt: minutesAgo(1) });
    state.startRun(api, { name: 'Other repository', startedAt: minutesAgo(10) });
    const switchedAt = minutesAgo(5).toISOString();

    const found = await runs().stillRunning(spec, switchedAt);
    expect(found).toEqual(
      [alsoBefore, before].map((run) => ({
        id: String(run.id),
        name: `repository acme/app workflow run ${run.id} (${run.name})`,
        startedAt: run.runStartedAt,
        url: `https://github.com/acme/app/actions/runs/${run.id}`,
      })),
    );

    state.finishRun(before, 'cancelled');
    expect((await runs().stillRunning(spec, switchedAt)).map((job) => job.id)).toEqual([
      String(alsoBefore.id),
    ]);
    state.finishRun(alsoBefore, 'success');
    expect(await runs().stillRunning(spec, switchedAt)).toEqual([]);
  });

  it('reads every page past 100 runs in progress: 130 found in 2 calls', async () => {
    const seeded = Array.from({ length: 130 }, (_, i) =>
      world.state.startRun(world.app, { name: `Matrix ${i}`, startedAt: minutesAgo(200 - i) }),
    );
    let found: { id: string }[] = [];
    const calls = await countCalls(world.sim, async () => {
      found = await runs().stillRunning(spec, minutesAgo(1).toISOString());
    });
    expect(found.map((job) => job.id).sort()).toEqual(seeded.map((run) => String(run.id)).sort());
    expect(calls).toEqual({ [LIST]: 2 });
    expect(
      world.sim.calls.map((call) => call.body && (call.body as { total_count: number }).total_count),
    ).toEqual([130, 130]);
  });

  it('lists a run once when another starts between two pages', async () => {
    const seeded = Array.from({ length: 120 }, (_, i) =>
      world.state.startRun(world.app, { name: `Shard ${i}`, startedAt: minutesAgo(200 - i) }),
    );
    world.sim.faults.afterNext({ method: 'GET', route: ROUTE }, () =>
      world.state.startRun(world.app, { name: 'Late' }),
    );
    const found = await runs().stillRunning(spec, minutesAgo(1).toISOString());
    expect(found.map((job) => job.id).sort()).toEqual(seeded.map((run) => String(run.id)).sort());
  });

  it('lists again when a run ends between two pages, so no older run slips onto a page already read', async () => {
    const seeded = Array.from({ length: 120 }, (_, i) =>
      world.state.startRun(world.app, { name: `Shard ${i}`, startedAt: minutesAgo(200 - i) }),
    );
    const newest = seeded.at(-1);
    if (newest === undefined) throw new Error('no runs');
    world.sim.faults.afterNext({ method: 'GET', route: ROUTE }, () =>
      world.state.finishRun(newest, 'success'),
    );
    let found: { id: string }[] = [];
    const calls = await countCalls(world.sim, async () => {
      found = await runs().stillRunning(spec, minutesAgo(1).toISOString());
    });
    expect(found.map((job) => job.id).sort()).toEqual(
      seeded
        .slice(0, -1)
        .map((run) => String(run.id))
        .sort(),
    );
    // A pass of 2 pages over which total_count went from 120 to 119, then a steady one.
    expect(calls).toEqual({ [LIST]: 4 });
  });

  it('is 404 for a token that cannot reach the repository, as GitHub hides it', async () => {
    const outsider = world.state.addToken({ reaches: ['acme/api'] });
    const error = await runsAdapter(world.sim.url, outsider.value)
      .stillRunning(spec, new Date().toISOString())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: 'not-found', status: 404 });
    expect(String(error)).toContain('repository acme/app workflow runs');
  });

  it('a spent primary rate limit (403, x-ratelimit-remaining 0) is rate-limited until the reset', async () => {
    const spent = world.state.addToken();
    world.state.exhaustRateLimit(spent, 120);
    const error = await runsAdapter(world.sim.url, spent.value)
      .stillRunning(spec, new Date().toISOString())
      .catch((e: unknown) => e);
    expect(world.sim.calls.at(-1)).toMatchObject({
      status: 403,
      headers: expect.objectContaining({ 'x-ratelimit-remaining': '0' }) as unknown,
    });
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: 'rate-limited', status: 403 });
    const { retryAfterMs } = error as ProviderError;
    expect(retryAfterMs).toBeGreaterThan(110_000);
    expect(retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it('a secondary rate limit (429 with retry-after) is rate-limited for that long', async () => {
    world.sim.faults.inject({ method: 'GET', route: ROUTE, status: 429, retryAfterSeconds: 30 });
    const error = await runs()
      .stillRunning(spec, new Date().toISOString())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: 'rate-limited', status: 429, retryAfterMs: 30_000 });
  });
});

describe('the simulated route', () => {
  const list = (query: Record<string, string | number>) =>
    githubApi(world.sim.url, world.adminToken.value).request(`GET ${ROUTE}`, {
      owner: 'acme',
      repo: 'app',
      ...query,
    });

  it('filters by status or conclusion, newest first', async () => {
    const { state, app } = world;
    const old = state.startRun(app, { name: 'CI', startedAt: minutesAgo(30) });
    const failed = state.finishRun(state.startRun(app, { name: 'CI', startedAt: minutesAgo(20) }), 'failure');
    const queued = state.startRun(app, { name: 'CI', startedAt: minutesAgo(10), status: 'queued' });
    const ids = async (query: Record<string, string>) =>
      ((await list(query)).data as { workflow_runs: { id: number }[] }).workflow_runs.map((run) => run.id);

    expect(await ids({})).toEqual([queued.id, failed.id, old.id]);
    expect(await ids({ status: 'in_progress' })).toEqual([old.id]);
    expect(await ids({ status: 'queued' })).toEqual([queued.id]);
    expect(await ids({ status: 'completed' })).toEqual([failed.id]);
    expect(await ids({ status: 'failure' })).toEqual([failed.id]);
    expect(await ids({ status: 'success' })).toEqual([]);
    expect(await ids({ event: 'schedule' })).toEqual([]);
    expect((await list({})).data).toMatchObject({
      total_count: 3,
      workflow_runs: [
        { run_number: 3, status: 'queued', conclusion: null },
        { run_number: 2, status: 'completed', conclusion: 'failure', path: '.github/workflows/ci.yml' },
        { run_number: 1, status: 'in_progress', conclusion: null, run_started_at: old.runStartedAt },
      ],
    });
  });

  it('pages by per_page (at most 100) and page, with a Link header as GitHub sends', async () => {
    for (let i = 0; i < 250; i += 1)
      world.state.startRun(world.app, { name: 'CI', startedAt: minutesAgo(300 - i) });
    const first = await list({ per_page: 500 });
    expect((first.data as { workflow_runs: unknown[] }).workflow_runs).toHaveLength(100);
    const base = `${world.sim.url}/repos/acme/app/actions/runs`;
    expect(first.headers.link).toBe(
      `<${base}?per_page=500&page=2>; rel="next", <${base}?per_page=500&page=3>; rel="last"`,
    );
    const middle = await list({ per_page: 100, page: 2 });
    expect(middle.headers.link).toBe(
      [
        `<${base}?per_page=100&page=1>; rel="prev"`,
        `<${base}?per_page=100&page=3>; rel="next"`,
        `<${base}?per_page=100&page=3>; rel="last"`,
        `<${base}?per_page=100&page=1>; rel="first"`,
      ].join(', '),
    );
    const last = await list({ per_page: 100, page: 3 });
    expect((last.data as { workflow_runs: unknown[] }).workflow_runs).toHaveLength(50);
    expect(last.headers.link).not.toContain('rel="next"');
    const whole = await list({ per_page: 30, status: 'success' });
    expect(whole.headers.link).toBeUndefined();
    expect((await list({})).data).toMatchObject({ total_count: 250 });
    expect(((await list({})).data as { workflow_runs: unknown[] }).workflow_runs).toHaveLength(30);
  });
});
