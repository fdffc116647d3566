import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { rotationPlan } from '../../src/inventory/plan';
import { allKinds } from '../../src/kinds';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { abort, endOverlapNow, statusQuery, type rotateCredential } from '../../workflows';
import { defined } from '../gitlab/world';
import { rotationWorld, until, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import { oneCredentialInventory } from '../helpers/inventory';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

const servers = testServers();
const vault = new VaultKvStore(servers.vault);
const taskQueue = `drain-${randomUUID()}`;
const JOBS = 'GET /projects/:id/jobs';
let rotation: RotationWorld;
let worker: TestWorker;

/** A job-aware overlap that lists the jobs every second, so that a test sees several polls in a few seconds. */
const drained = (max: string, extra: object = {}) => ({
  until: 'jobs-drained',
  min: '0s',
  max,
  poll: '1s',
  ...extra,
});

const seeds: Record<string, SeededCredential> = {};

beforeAll(async () => {
  rotation = await rotationWorld(vault, { github: true });
  seeds.idle = await rotation.seed('drain-idle', { overlap: drained('1h') });
  seeds.waits = await rotation.seed('drain-waits', { overlap: drained('1h') });
  seeds.max = await rotation.seed('drain-max', { overlap: drained('3s') });
  seeds.hold = await rotation.seed('drain-hold', { overlap: drained('2s', { onMax: 'hold' }) });
  seeds.aborted = await rotation.seed('drain-abort', { overlap: drained('1h') });
  seeds.bounded = await rotation.seed('drain-bounded', { overlap: drained('2h') });
  seeds.github = await rotation.seed('drain-github', { overlap: drained('1h'), targets: 'github' });
  rotation.writeInventory();
  worker = await rotation.startWorker(taskQueue);
});

// A job a test left running would hold the next test's rotation.
afterEach(() => {
  for (const job of rotation.world.project.jobs)
    if (job.status === 'running' || job.status === 'pending') rotation.world.state.finishJob(job);
});

afterAll(async () => {
  await worker.stop();
  await rotation.close();
});

const start = (credential: SeededCredential): Promise<WorkflowHandle<typeof rotateCredential>> =>
  startRotation(worker.client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
const status = (handle: WorkflowHandle<typeof rotateCredential>) => handle.query(statusQuery);
/** A job of the credentials' project, running since a minute before now: it may hold the old token. */
const jobStartedEarlier = (name: string) =>
  rotation.world.state.startJob(rotation.world.project, {
    name,
    startedAt: new Date(Date.now() - 60_000).toISOString(),
  });
const steps = async (handle: WorkflowHandle<typeof rotateCredential>) =>
  (await status(handle)).timeline.map(({ step }) => step);

describe('a job-aware overlap (policy.overlap until jobs-drained) on the GitLab simulator', () => {
  it('ends as soon as it finds no job that started before the switch', async () => {
    const handle = await start(defined(seeds.idle));
    const result = await handle.result();

    expect(result).toMatchObject({ outcome: 'rotated', alerts: [] });
    expect(await steps(handle)).toContain('no job started before the switch still runs: overlap ends');
    await rotation.expectRotatedOnce(defined(seeds.idle));
  });

  it('keeps the old token while a job that started before the switch runs, and revokes it once the job ends', async () => {
    const credential = defined(seeds.waits);
    const job = jobStartedEarlier('deploy');
    // Neither holds the old token: one starts after the switch, one waits for a runner.
    const pending = rotation.world.state.startJob(rotation.world.project, { name: 'lint', startedAt: null });
    const handle = await start(credential);
    await until(async () => ((await status(handle)).jobsStillRunning ?? []).length > 0);
    const later = rotation.world.state.startJob(rotation.world.project, { name: 'test' });
    rotation.world.sim.calls.length = 0;
    // Many polls while it waits: each is a listing, none an event in the history.
    await until(async () => rotation.world.sim.callCounts()[JOBS] !== undefined);
    await until(async () => (rotation.world.sim.callCounts()[JOBS] ?? 0) >= 3);

    const waiting = await status(handle);
    expect(waiting.phase).toBe('overlapping');
    expect(waiting.jobsStillRunning).toEqual([
      expect.stringMatching(
        new RegExp(
          `^project ${rotation.world.project.path} job ${job.id} \\(deploy\\) https?://\\S+/${rotation.world.project.path}/-/jobs/${job.id}$`,
        ),
      ),
    ]);
    expect(rotation.world.state.isActive(credential.old)).toBe(true);

    rotation.world.state.finishJob(job);
    const result = await handle.result();

    expect(result).toMatchObject({ outcome: 'rotated', alerts: [] });
    await rotation.expectRotatedOnce(credential);
    // One listing activity while the job ran and one after it ended, however many polls they made.
    const history = await handle.fetchHistory();
    const listings = (history.events ?? []).filter(
      (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitJobsDrained',
    );
    expect(listings).toHaveLength(2);
    expect([pending, later].map(({ status }) => status)).toEqual(['pending', 'running']);
  });

  it('adds at most 7 history events per job that ends, however long it waits and however often it polls', async () => {
    const credential = defined(seeds.bounded);
    const jobs = ['build', 'test', 'deploy', 'smoke'].map(jobStartedEarlier);
    const handle = await start(credential);
    await until(async () => ((await status(handle)).jobsStillRunning ?? []).length === jobs.length);
    for (const job of jobs) {
      // Several polls of each set of running jobs before the next one ends.
      const polled = rotation.world.sim.callCounts()[JOBS] ?? 0;
      await until(async () => (rotation.world.sim.callCounts()[JOBS] ?? 0) >= polled + 3);
      rotation.world.state.finishJob(job);
    }
    expect((await handle.result()).outcome).toBe('rotated');

    const events = (await handle.fetchHistory()).events ?? [];
    const isListing = (event: (typeof events)[number]) =>
      event.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitJobsDrained';
    const first = events.findIndex(isListing);
    const revoke = events.findIndex(
      (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'revokeCredential',
    );
    // One listing per change of the running jobs: four found, then each of the four ending.
    expect(events.filter(isListing)).toHaveLength(jobs.length + 1);
    expect(first).toBeGreaterThan(0);
    expect(revoke - first).toBeLessThanOrEqual(7 * (jobs.length + 1));
    await rotation.expectRotatedOnce(credential);
  });

  it("waits for a GitHub workflow run that started before the switch, in the repository secret's repository", async () => {
    const credential = defined(seeds.github);
    const { state, app } = rotation.github;
    const run = state.startRun(app, { name: 'Deploy', startedAt: new Date(Date.now() - 60_000) });
    // Neither holds the old value: one started after the switch would read the new, one queued has no job yet.
    const queued = state.startRun(app, { name: 'Lint', status: 'queued' });
    const handle = await start(credential);
    await until(async () => ((await status(handle)).jobsStillRunning ?? []).length > 0);
    // GitHub gives `run_started_at` to the second: a run in the switch's second counts as started before it.
    const switchedAt = Date.parse(defined((await status(handle)).switchedAt));
    await until(async () => Date.now() >= switchedAt + 1_000);
    const later = state.startRun(app, { name: 'Test' });

    expect((await status(handle)).jobsStillRunning).toEqual([
      expect.stringMatching(
        new RegExp(`^repository acme/app workflow run ${run.id} \\(Deploy\\) https?://\\S+`),
      ),
    ]);
    expect(rotation.world.state.isActive(credential.old)).toBe(true);
    expect(rotation.targetValues(credential)).toEqual([rotation.newTokens(credential)[0]?.value]);

    state.finishRun(run, 'success');
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'rotated', alerts: [] });
    await rotation.expectRotatedOnce(credential);
    for (const other of [queued, later]) state.finishRun(other, 'success');
  });

  it('revokes at max with an alert naming the jobs still running', async () => {
    const credential = defined(seeds.max);
    const job = jobStartedEarlier('migrate');
    const result = await (await start(credential)).result();

    expect(result.outcome).toBe('rotated');
    expect(result.alerts).toEqual([
      expect.stringMatching(
        new RegExp(
          `^1 job started before the switch still ran \\(project \\S+ job ${job.id} \\(migrate\\) \\S+\\) at the ` +
            `overlap's max; revoking old token ${credential.old.id} anyway$`,
        ),
      ),
    ]);
    await rotation.expectRotatedOnce(credential);
  });

  it('with onMax: hold, waits at max for an operator, who ends the overlap', async () => {
    const credential = defined(seeds.hold);
    jobStartedEarlier('release');
    const handle = await start(credential);
    await until(async () => (await status(handle)).alerts.length > 0);
    const held = await status(handle);

    expect(held.phase).toBe('overlapping');
    expect(held.alerts).toEqual([expect.stringContaining("at the overlap's max; held for an operator")]);
    expect(rotation.world.state.isActive(credential.old)).toBe(true);
    await handle.executeUpdate(endOverlapNow, { args: [{ requestedBy: 'bob' }] });
    const result = await handle.result();

    expect(result.outcome).toBe('rotated');
    expect(await steps(handle)).toContain('overlap ended early by bob');
    await rotation.expectRotatedOnce(credential);
  });

  it('rolls back when aborted while it waits for jobs: the old token stays, the new one is revoked', async () => {
    const credential = defined(seeds.aborted);
    jobStartedEarlier('nightly');
    const handle = await start(credential);
    await until(async () => ((await status(handle)).jobsStillRunning ?? []).length > 0);
    await handle.executeUpdate(abort, { args: [{ requestedBy: 'bob', reason: 'a runner leaked' }] });
    await handle.result().catch(() => undefined);

    expect((await status(handle)).outcome).toBe('rolled-back');
    expect(rotation.world.state.isActive(credential.old)).toBe(true);
    expect(rotation.newTokens(credential).map((token) => token.revoked)).toEqual([true]);
    expect(rotation.targetValues(credential)).toEqual([credential.old.value]);
  });
});

describe('the inventory of a job-aware overlap', () => {
  const inventoryWith = (overlap: object, targets: object[]) =>
    oneCredentialInventory({ targets, policy: { overlap } });
  const groupVariable = { kind: 'gitlab-ci-variable', gitlab: 'sim', group: 'platform', key: 'T' };

  it('names the bad field of a job-aware overlap, and says what an overlap may be', () => {
    expect(inventoryWith({ until: 'jobs-drained', min: 'soon', max: '1h' }, [groupVariable])).toMatchObject({
      ok: false,
      errors: [expect.stringContaining('credentials[0].policy.overlap.min: expected a duration')],
    });
    expect(
      inventoryWith({ until: 'jobs-drained', min: '0s', max: '1h', onMax: 'wait' }, [groupVariable]),
    ).toMatchObject({
      ok: false,
      errors: [expect.stringContaining('credentials[0].policy.overlap.onMax: ')],
    });
    expect(inventoryWith([15] as unknown as object, [groupVariable])).toMatchObject({
      ok: false,
      errors: [
        expect.stringContaining(
          'credentials[0].policy.overlap: expected a duration such as "15m", or { until: jobs-drained',
        ),
      ],
    });
  });

  it('refuses min longer than max, naming the field', () => {
    const refused = inventoryWith({ until: 'jobs-drained', min: '2h', max: '1h' }, [groupVariable]);
    expect(refused).toMatchObject({
      ok: false,
      errors: [expect.stringContaining('credentials[0].policy.overlap.min: must not be longer than max')],
    });
  });

  it('watches the projects of the targets, and refuses a plan with nothing to watch', () => {
    const onlyGroup = inventoryWith({ until: 'jobs-drained', min: '0s', max: '1h' }, [groupVariable]);
    if (!onlyGroup.ok) throw new Error(onlyGroup.errors.join('\n'));
    expect(() => rotationPlan(onlyGroup.inventory, 'only', allKinds)).toThrow(
      'credential "only" policy.overlap: until jobs-drained needs jobs to watch',
    );

    const withProject = inventoryWith({ until: 'jobs-drained', min: '5m', max: '2h' }, [
      groupVariable,
      { kind: 'gitlab-ci-variable', gitlab: 'sim', project: 'platform/app', key: 'T' },
      { kind: 'gitlab-ci-variable', gitlab: 'sim', project: 'platform/app', key: 'U' },
    ]);
    if (!withProject.ok) throw new Error(withProject.errors.join('\n'));
    const plan = rotationPlan(withProject.inventory, 'only', allKinds);
    expect(plan.consumers?.map(({ name }) => name)).toEqual(['project platform/app jobs']);
    expect(plan.policy).toMatchObject({
      overlap: 300_000,
      drain: { max: 7_200_000, onMax: 'revoke', poll: 30_000 },
    });
  });
});
