import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { abort, statusQuery, type rotateCredential } from '../../workflows';
import type { RotationStatus } from '../../workflows/status';
import { defined } from '../gitlab/world';
import { rotationWorld, until, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import { oneCredentialInventory } from '../helpers/inventory';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

/*
 * The canary on the real Temporal and Vault servers: a GitLab pipeline or a GitHub workflow run that reads
 * the credential's new value from its target, as the simulators' canaries do, and passes only when the token
 * works there. A pass promotes; a failure, a timeout or an abort rolls everything back and revokes the new
 * token; `skipCanary` promotes without it, in the audit log.
 */

const vault = new VaultKvStore(testServers().vault);
const taskQueue = `canary-${randomUUID()}`;
let rotation: RotationWorld;
let worker: TestWorker;
const seeds: Record<string, SeededCredential> = {};

/** The CI variable a seeded credential's project target writes. */
const variableOf = (credential: SeededCredential) => defined(credential.variables[0]).key;
/** Whether `value` is a live token of the GitLab simulator, with every scope in `scopes`. */
const works =
  (scopes: string[] = []) =>
  (value: string | undefined) =>
    [...rotation.world.state.tokens.values()].some(
      (token) =>
        token.value === value &&
        rotation.world.state.isActive(token) &&
        scopes.every((scope) => token.scopes.includes(scope)),
    );

const gitlabCanary = (ref: string, extra: object = {}) => ({
  kind: 'gitlab-pipeline',
  gitlab: 'sim',
  project: rotation.world.project.path,
  ref,
  variables: { ROTATOR_CANARY: 'true' },
  poll: '1s',
  ...extra,
});

beforeAll(async () => {
  rotation = await rotationWorld(vault, { github: true });
  const { state, project } = rotation.world;
  seeds.passes = await rotation.seed('canary-passes', { canary: gitlabCanary('canary-passes') });
  seeds.fails = await rotation.seed('canary-fails', { canary: gitlabCanary('canary-fails') });
  seeds.hangs = await rotation.seed('canary-hangs', {
    canary: gitlabCanary('canary-hangs', { timeout: '3s' }),
  });
  seeds.aborted = await rotation.seed('canary-aborted', { canary: gitlabCanary('canary-aborted') });
  seeds.skipped = await rotation.seed('canary-skipped', { canary: gitlabCanary('canary-skipped') });
  seeds.refused = await rotation.seed('canary-refused', { canary: gitlabCanary('canary-refused') });
  seeds.unconfigured = await rotation.seed('canary-unconfigured', { canary: gitlabCanary('no-such-branch') });
  const dispatch = (workflow: string) => ({
    kind: 'github-workflow-dispatch',
    github: 'gh-sim',
    repository: 'acme/app',
    workflow,
    ref: 'main',
    inputs: { reason: 'rotation canary' },
    poll: '1s',
  });
  seeds.github = await rotation.seed('canary-github', { targets: 'both', canary: dispatch('canary.yml') });
  seeds.untriggered = await rotation.seed('canary-untriggered', {
    targets: 'both',
    canary: dispatch('build.yml'),
  });

  state.defineCanary(project, {
    ref: 'canary-passes',
    reads: variableOf(defined(seeds.passes)),
    check: works(),
  });
  // The pipeline needs a scope the credential's tokens are not given: they verify, and fail in the pipeline.
  state.defineCanary(project, {
    ref: 'canary-fails',
    reads: variableOf(defined(seeds.fails)),
    check: works(['read_registry']),
  });
  state.defineCanary(project, { ref: 'canary-hangs', reads: 'ANY', check: works(), hangs: true });
  state.defineCanary(project, { ref: 'canary-aborted', reads: 'ANY', check: works(), hangs: true });
  state.defineCanary(project, { ref: 'canary-skipped', reads: 'ANY', check: () => false });
  state.defineCanary(project, { ref: 'canary-refused', reads: 'ANY', check: works() });
  const { github } = rotation;
  github.state.defineCanary(github.app, {
    workflow: 'canary.yml',
    reads: defined(defined(seeds.github).secrets[0]),
    check: works(),
    inputs: ['reason'],
  });
  // A workflow without a workflow_dispatch trigger: GitHub refuses to dispatch it.
  github.state.defineWorkflow(github.app, { file: 'build.yml' });
  rotation.writeInventory();
  worker = await rotation.startWorker(taskQueue);
});

afterAll(async () => {
  await worker?.stop();
  await rotation?.close();
});

const start = (credential: SeededCredential, extra: object = {}) =>
  startRotation(worker.client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
    ...extra,
  });
const steps = (status: RotationStatus) => status.timeline.map(({ step }) => step);
/** Rolled back: the old token live in Vault and every target, the one minted revoked. */
async function expectRolledBack(credential: SeededCredential): Promise<void> {
  expect(rotation.world.state.isActive(credential.old)).toBe(true);
  expect(rotation.newTokens(credential).map(({ revoked }) => revoked)).toEqual([true]);
  expect(rotation.targetValues(credential)).toEqual(
    rotation.targetValues(credential).map(() => credential.old.value),
  );
  expect((await vault.read(credential.vault)).data.token).toBe(credential.old.value);
}
async function failedStatus(handle: WorkflowHandle<typeof rotateCredential>): Promise<RotationStatus> {
  await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
  return handle.query(statusQuery);
}
const canaryPipelines = (ref: string) => rotation.world.project.pipelines.filter((p) => p.ref === ref);

describe('a GitLab pipeline canary', () => {
  it('runs after distribute and before promote, with the new token in the variable it reads, and passes', async () => {
    const credential = defined(seeds.passes);
    const handle = await start(credential);
    const status = await handle.result();

    expect(status.outcome).toBe('rotated');
    expect(steps(status).slice(5, 8)).toEqual(['distribute', 'canary', 'promote']);
    const [pipeline] = canaryPipelines('canary-passes');
    expect(canaryPipelines('canary-passes')).toHaveLength(1);
    expect(defined(pipeline)).toMatchObject({
      status: 'success',
      source: 'api',
      variableKeys: ['ROTATOR_CANARY'],
    });
    expect(status.canary).toEqual({
      name: `project ${rotation.world.project.path} pipeline on canary-passes`,
      state: 'passed',
      conclusion: 'success',
      run: `project ${rotation.world.project.path} pipeline ${defined(pipeline).id}`,
      url: expect.stringMatching(
        new RegExp(`/${rotation.world.project.path}/-/pipelines/${defined(pipeline).id}$`),
      ),
      startedAt: expect.any(String),
    });
    await rotation.expectRotatedOnce(credential);
    // Two activities however often the run was read: its start, and one wait that polls.
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = (name: string) =>
      events.findIndex((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === name);
    expect(scheduled('promoteStaged') - scheduled('startCanary')).toBeLessThanOrEqual(12);
    const passed = rotation.audited(credential).find(({ event }) => event === 'canary passed');
    expect(passed).toMatchObject({
      step: 'canary',
      detail: expect.stringContaining(defined(status.canary?.url)),
    });
  });

  it('rolls everything back when the pipeline fails with the new token, naming the run and its URL', async () => {
    const credential = defined(seeds.fails);
    const handle = await start(credential);
    const failure = await handle.result().catch((error: unknown) => error);
    const status = await handle.query(statusQuery);

    expect(status.outcome).toBe('rolled-back');
    expect(status.canary).toMatchObject({ state: 'failed', conclusion: 'failed' });
    const url = defined(status.canary?.url);
    expect(String((failure as WorkflowFailedError).cause?.message)).toContain(
      `canary failed (permanent: canary ${defined(status.canary?.run)} ended failed: ${url})`,
    );
    expect(status.detail).toContain("to do: read the canary run's log");
    await expectRolledBack(credential);
    const rolledBack = rotation.audited(credential).find(({ event }) => event === 'rolled back');
    expect(rolledBack?.detail).toContain(url);
  });

  it('cancels a pipeline still running at its timeout, and rolls back', async () => {
    const credential = defined(seeds.hangs);
    const status = await failedStatus(await start(credential));

    expect(status.outcome).toBe('rolled-back');
    expect(status.canary).toMatchObject({ state: 'timed-out', conclusion: 'running' });
    expect(status.failures.at(-1)?.message ?? status.detail).toBeDefined();
    expect(canaryPipelines('canary-hangs').map(({ status: state }) => state)).toEqual(['canceled']);
    await expectRolledBack(credential);
  });

  it('cancels the pipeline and rolls back when aborted while the canary runs', async () => {
    const credential = defined(seeds.aborted);
    const handle = await start(credential);
    await until(async () => (await handle.query(statusQuery)).phase === 'running-canary');
    await handle.executeUpdate(abort, { args: [{ requestedBy: 'bob', reason: 'wrong pipeline' }] });
    const status = await failedStatus(handle);

    expect(status).toMatchObject({ outcome: 'rolled-back', canary: { state: 'cancelled' } });
    expect(canaryPipelines('canary-aborted').map(({ status: state }) => state)).toEqual(['canceled']);
    await expectRolledBack(credential);
  });

  it('is skipped with skipCanary, which the timeline and the audit log record with its reason', async () => {
    const credential = defined(seeds.skipped);
    const status = await (
      await start(credential, { skipCanary: { reason: 'runners down, token leaked' } })
    ).result();

    expect(status).toMatchObject({ outcome: 'rotated', canary: { state: 'skipped' } });
    expect(canaryPipelines('canary-skipped')).toEqual([]);
    expect(steps(status)).toContain(
      `canary project ${rotation.world.project.path} pipeline on canary-skipped skipped by alice: runners down, token leaked`,
    );
    const skipped = rotation.audited(credential).filter(({ event }) => event === 'canary skipped');
    expect(skipped).toEqual([
      expect.objectContaining({
        actor: 'alice',
        step: 'canary',
        detail: expect.stringContaining('runners down'),
      }),
    ]);
    await rotation.expectRotatedOnce(credential);
  });
});

describe('a canary that cannot start', () => {
  it('is an auth failure when GitLab refuses the admin token, and rolls back', async () => {
    const credential = defined(seeds.refused);
    const route = '/projects/:id/pipeline';
    const { sim } = rotation.world;
    // Once: a refusal is not retried.
    sim.faults.failNth({ method: 'POST', route, n: sim.callsTotal('POST', route) + 1, status: 403 });
    const status = await failedStatus(await start(credential));

    expect(status.failures.at(-1)).toMatchObject({ step: 'start canary', class: 'auth' });
    expect(status.detail).toContain(
      "to do: check that the provider's admin token is valid and allowed to do this",
    );
    await expectRolledBack(credential);
  });

  it('is a permanent failure for a ref GitLab cannot run a pipeline on, and rolls back', async () => {
    const credential = defined(seeds.unconfigured);
    const status = await failedStatus(await start(credential));

    expect(status.failures.at(-1)).toMatchObject({ step: 'start canary', class: 'permanent' });
    expect(status.failures.at(-1)?.message).toContain('HTTP 400');
    await expectRolledBack(credential);
  });
});

describe('a GitHub workflow dispatch canary', () => {
  it('dispatches the workflow, follows the run GitHub names, and promotes once it succeeds', async () => {
    const credential = defined(seeds.github);
    const status = await (await start(credential)).result();

    expect(status).toMatchObject({ outcome: 'rotated', canary: { state: 'passed', conclusion: 'success' } });
    const runs = rotation.github.app.runs.filter(({ event }) => event === 'workflow_dispatch');
    expect(runs).toHaveLength(1);
    expect(status.canary?.run).toBe(`repository acme/app workflow canary.yml run ${defined(runs[0]).id}`);
    expect(defined(runs[0]).inputKeys).toEqual(['reason']);
    await rotation.expectRotatedOnce(credential);
  });

  it('rolls back when GitHub refuses to dispatch a workflow without a workflow_dispatch trigger', async () => {
    const credential = defined(seeds.untriggered);
    const status = await failedStatus(await start(credential));

    expect(status.outcome).toBe('rolled-back');
    expect(status.canary).toBeUndefined();
    expect(status.failures.at(-1)).toMatchObject({ step: 'start canary', class: 'permanent' });
    expect(status.failures.at(-1)?.message).toContain('HTTP 422');
    await expectRolledBack(credential);
  });
});

describe('the inventory of a canary', () => {
  const inventoryWith = (canary: object, strategy = 'create-then-revoke') =>
    oneCredentialInventory(
      { canary, policy: { overlap: strategy === 'rotate-in-place' ? '0s' : '15m' } },
      { strategy },
    );
  const pipeline = { kind: 'gitlab-pipeline', gitlab: 'sim', project: 'platform/app', ref: 'main' };

  it('takes a pipeline with the defaults of its timeout and poll', () => {
    const loaded = inventoryWith(pipeline);
    expect(loaded.ok && loaded.inventory.credentials[0]?.canary).toEqual({
      ...pipeline,
      variables: {},
      timeout: 15 * 60_000,
      poll: 10_000,
    });
  });

  it('names the bad field', () => {
    expect(inventoryWith({ ...pipeline, variables: { 'not a name': 'x' }, timeout: 'soon' })).toMatchObject({
      ok: false,
      errors: expect.arrayContaining([
        expect.stringContaining('credentials[0].canary.variables'),
        expect.stringContaining('credentials[0].canary.timeout'),
      ]),
    });
  });

  it('refuses a canary for a source that rotates in place: there would be nothing to roll back to', () => {
    expect(inventoryWith(pipeline, 'rotate-in-place')).toMatchObject({
      ok: false,
      errors: [
        expect.stringContaining('credentials[0].canary: cannot be used with a source that rotates in place'),
      ],
    });
  });
});
