import { WorkflowFailedError } from '@temporalio/client';
import { startRotation } from '../../src/rotations';
import type { RotationStatus } from '../../workflows/status';
import { defined } from '../gitlab/world';
import type { SeededCredential } from '../helpers/rotation';
import { cliWorld, type CliWorld } from './world';

let world: CliWorld;
const seeded: Record<string, SeededCredential> = {};

beforeAll(async () => {
  world = await cliWorld('cli-steer');
  const { rotation } = world;
  seeded.overlap = await rotation.seed('overlap', { overlap: '1h' });
  seeded.approval = await rotation.seed('approval', { requireApproval: true });
  seeded.idle = await rotation.seed('idle');
  for (const name of ['retried', 'resolved'])
    seeded[name] = await rotation.seed(name, { groupVariable: true });
  rotation.writeInventory();
  await world.startWorker();
});

afterAll(async () => {
  await world?.close();
});

const id = (name: string) => defined(seeded[name]).id;
const handleOf = (name: string) => world.client.workflow.getHandle(`rotate/${id(name)}`);
const status = (name: string) => handleOf(name).query<RotationStatus>('status');

describe('rotator approve, abort, end-overlap, extend-overlap, retry-rollback, resolve', () => {
  it('refuses with exit 3 when no rotation of the credential has run, and exit 2 for an unknown id', async () => {
    expect(await world.cli(['approve', id('idle')])).toEqual({
      code: 3,
      stdout: '',
      stderr: `rotator: no rotation of ${id('idle')} has run, so there is nothing to approve\n`,
    });
    expect((await world.cli(['end-overlap', 'nope'])).code).toBe(2);
  });

  it('steers the overlap window: shows the workflow’s own refusals, extends it (--json), ends it; then nothing runs', async () => {
    const name = 'overlap';
    expect((await world.cli(['rotate', id(name), '--force'])).code).toBe(0);
    await world.untilPhase(id(name), 'overlapping');

    const carol = world.rotation.approvers.carol.file;
    expect(await world.cli(['approve', id(name), '--requested-by', 'carol', '--key', carol])).toEqual({
      code: 3,
      stdout: '',
      stderr: `rotator: the rotation of ${id(name)} refused approve: nothing awaits approval (phase overlapping)\n`,
    });
    expect((await world.cli(['retry-rollback', id(name)])).stderr).toBe(
      `rotator: the rotation of ${id(name)} refused retry-rollback: no rollback awaits an operator (phase overlapping)\n`,
    );
    expect((await world.cli(['resolve', id(name), '--note', 'by hand'])).code).toBe(3);
    expect(await world.cli(['extend-overlap', id(name), '8d'])).toMatchObject({
      code: 3,
      stderr: `rotator: the rotation of ${id(name)} refused extend-overlap: expected whole minutes from 1 to 10080\n`,
    });
    expect(await world.cli(['extend-overlap', id(name), '90s'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'rotator: duration: expected whole minutes such as 30m, 2h or 1h30m\n',
    });

    const extended = await world.cli(['extend-overlap', id(name), '30m', '--json', '--requested-by', 'dave']);
    expect(extended.code).toBe(0);
    const answer = JSON.parse(extended.stdout) as { answer: string };
    expect(answer).toEqual({
      credentialId: id(name),
      workflowId: `rotate/${id(name)}`,
      update: 'extendOverlap',
      answer: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      url: `http://localhost:8233/namespaces/default/workflows/rotate%2F${id(name)}`,
    });
    const during = await status(name);
    expect(during.overlapEndsAt).toBe(answer.answer);
    expect(during.timeline.map((entry) => entry.step)).toContain('overlap extended by 30 minutes by dave');

    const ended = await world.cli(['end-overlap', id(name)]);
    expect(ended.code).toBe(0);
    expect(ended.stdout).toMatch(new RegExp(`^ended the overlap window of ${id(name)} at \\S+\n`));
    expect(await handleOf(name).result()).toMatchObject({ outcome: 'rotated' });
    await world.rotation.expectRotatedOnce(defined(seeded[name]));

    const late = await world.cli(['end-overlap', id(name)]);
    expect(late.code).toBe(3);
    expect(late.stderr).toMatch(
      new RegExp(
        `^rotator: no rotation of ${id(name)} is running \\(the last one ended rotated at \\S+\\), so there is nothing to end-overlap\n$`,
      ),
    );
  });

  it('aborts a rotation that awaits approval: it ends cancelled; --reason is required', async () => {
    const name = 'approval';
    expect((await world.cli(['rotate', id(name), '--force'])).code).toBe(0);
    await world.untilPhase(id(name), 'awaiting-approval');
    expect(await world.cli(['abort', id(name)])).toMatchObject({
      code: 2,
      stderr: "error: required option '--reason <reason>' not specified\n",
    });
    expect(await world.cli(['abort', id(name), '--reason', ' '])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^rotator: --reason: /),
    });

    const aborted = await world.cli(['abort', id(name), '--reason', 'wrong window']);
    expect(aborted.code).toBe(0);
    expect(aborted.stdout).toMatch(
      new RegExp(`^aborted the rotation of ${id(name)} at \\S+: it rolls back\n`),
    );
    expect(await handleOf(name).result()).toMatchObject({
      outcome: 'cancelled',
      abortedBy: { requestedBy: 'alice', reason: 'wrong window', phase: 'awaiting-approval' },
    });
    expect(world.rotation.newTokens(defined(seeded[name]))).toEqual([]);
  });

  /** A rotation whose group write fails, and whose restore of it then fails on both of its 2 attempts. */
  async function rollbackAwaitingOperator(name: string) {
    const { sim } = world.rotation.world;
    const route = '/groups/:id/variables/:key';
    const n = sim.callsTotal('PUT', route);
    sim.faults.failNth({ method: 'PUT', route, n: n + 1, status: 403 });
    for (const k of [2, 3]) sim.faults.failNth({ method: 'PUT', route, n: n + k, status: 500 });
    // rollbackAttempts is a test-only input: the CLI always starts rotations with the default 10.
    await startRotation(world.client, world.taskQueue, {
      credentialId: id(name),
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
      rollbackAttempts: 2,
    });
    await world.untilPhase(id(name), 'needs-operator');
  }
  const failure = (name: string) =>
    handleOf(name)
      .result()
      .then(
        () => undefined,
        (error: unknown) => (error as WorkflowFailedError).cause?.message,
      );

  it('retry-rollback runs the failed undo once more and the rotation ends rolled back', async () => {
    await rollbackAwaitingOperator('retried');
    const retried = await world.cli(['retry-rollback', id('retried'), '--requested-by', 'carol']);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toMatch(new RegExp(`^retried the rollback of ${id('retried')} at \\S+\n`));
    expect(await failure('retried')).toMatch(/restore group platform CI variable [^:]+: done/);
    expect(await status('retried')).toMatchObject({ outcome: 'rolled-back' });
  });

  it('resolve takes a stuck rollback over with a note; --note is required', async () => {
    await rollbackAwaitingOperator('resolved');
    expect((await world.cli(['resolve', id('resolved')])).code).toBe(2);
    const resolved = await world.cli(['resolve', id('resolved'), '--note', 'restored by hand', '--json']);
    expect(resolved.code).toBe(0);
    expect(JSON.parse(resolved.stdout)).toMatchObject({ update: 'resolve', credentialId: id('resolved') });
    expect(await failure('resolved')).toMatch(/; resolved by alice: restored by hand$/);
    expect(await status('resolved')).toMatchObject({ phase: 'done', outcome: 'failed' });
  });
});
