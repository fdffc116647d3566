import { defaultPayloadConverter } from '@temporalio/common';
import { defined } from '../gitlab/world';
import { until, type SeededCredential } from '../helpers/rotation';
import { cliWorld, type CliWorld } from './world';

let world: CliWorld;
const seeded: Record<string, SeededCredential> = {};

beforeAll(async () => {
  world = await cliWorld('cli-schedules');
  const { rotation } = world;
  for (const name of ['weekly', 'jittered', 'removed']) seeded[name] = await rotation.seed(name);
  seeded.approval = await rotation.seed('approval', { requireApproval: true });
  rotation.writeInventory();
  world.editInventory((entries) => {
    const jittered = defined(entries.find((entry) => entry.id === id('jittered')));
    jittered.policy = { ...jittered.policy, every: '12h', jitter: '1h' };
  });
  await world.startWorker();
});

afterAll(async () => {
  await world?.close();
});

const id = (name: string) => defined(seeded[name]).id;
const scheduleOf = (name: string) => `rotate-schedule/${id(name)}`;
const healthSchedule = () => `health-check/${world.taskQueue}`;

interface ListedSchedule {
  scheduleId: string;
  credentialId: string;
  everyMs: number;
  jitterMs: number;
  paused: boolean;
  note: string | null;
}
const listed = async () =>
  JSON.parse((await world.cli(['schedules', 'list', '--json'])).stdout) as ListedSchedule[];
/** Schedule listing is eventually consistent: waits until it shows exactly these schedules. */
const untilListed = async (ids: string[]) => {
  await until(async () => JSON.stringify((await listed()).map((s) => s.scheduleId)) === JSON.stringify(ids));
  expect((await listed()).map((s) => s.scheduleId)).toEqual(ids);
};

describe('rotator schedules', () => {
  it('refuses to pause, unpause or trigger a schedule that does not exist yet, with exit 3', async () => {
    expect(await world.cli(['schedules', 'pause', id('weekly')])).toEqual({
      code: 3,
      stdout: '',
      stderr: `rotator: ${id('weekly')} has no schedule ${scheduleOf('weekly')}: \`rotator schedules sync\` creates it\n`,
    });
    expect((await world.cli(['schedules', 'trigger', id('weekly')])).code).toBe(3);
    expect((await world.cli(['schedules', 'trigger', 'nope'])).code).toBe(2);
  });

  it('sync creates one schedule per credential; a second sync changes nothing and says so', async () => {
    const created = await world.cli(['schedules', 'sync']);
    expect(created).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        `created ${scheduleOf('weekly')}: every 7d, jitter 0s`,
        `created ${scheduleOf('jittered')}: every 12h, jitter 1h`,
        `created ${scheduleOf('removed')}: every 7d, jitter 0s`,
        `created ${scheduleOf('approval')}: every 7d, jitter 0s`,
        `created ${healthSchedule()}: every 1h, jitter 0s`,
        '',
      ].join('\n'),
    });
    expect(await world.cli(['schedules', 'sync'])).toEqual({
      code: 0,
      stderr: '',
      stdout: 'no changes: 5 schedules match the inventory\n',
    });
    const again = await world.cli(['schedules', 'sync', '--json']);
    expect(JSON.parse(again.stdout)).toEqual({
      created: [],
      updated: [],
      deleted: [],
      unchanged: [...['weekly', 'jittered', 'removed', 'approval'].map(scheduleOf), healthSchedule()],
    });

    const description = await world.client.schedule.getHandle(scheduleOf('jittered')).describe();
    expect(description.spec).toMatchObject({
      intervals: [{ every: 12 * 3_600_000 }],
      jitter: 3_600_000,
    });
    expect(description.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 60_000 });
    expect(description.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'rotateAll',
      workflowId: scheduleOf('jittered'),
      taskQueue: world.taskQueue,
      args: [
        { credentialIds: [id('jittered')], reason: 'scheduled', requestedBy: 'schedule', concurrency: 1 },
      ],
    });
  });

  it('sync updates a changed policy and deletes the schedule of a credential gone from the inventory', async () => {
    await untilListed(
      [scheduleOf('approval'), scheduleOf('jittered'), scheduleOf('removed'), scheduleOf('weekly')].sort(),
    );
    world.editInventory((entries) => {
      const weekly = defined(entries.find((entry) => entry.id === id('weekly')));
      weekly.policy = { ...weekly.policy, every: '1d' };
      entries.splice(
        entries.findIndex((entry) => entry.id === id('removed')),
        1,
      );
    });

    const synced = await world.cli(['schedules', 'sync', '--json']);
    expect(synced.code).toBe(0);
    expect(JSON.parse(synced.stdout)).toEqual({
      created: [],
      updated: [scheduleOf('weekly')],
      deleted: [scheduleOf('removed')],
      unchanged: [scheduleOf('jittered'), scheduleOf('approval'), healthSchedule()],
    });
    expect(
      (await world.client.schedule.getHandle(scheduleOf('weekly')).describe()).spec.intervals,
    ).toMatchObject([{ every: 86_400_000 }]);
    await untilListed([scheduleOf('approval'), scheduleOf('jittered'), scheduleOf('weekly')].sort());
    expect((await world.cli(['schedules', 'sync'])).stdout).toBe(
      'no changes: 4 schedules match the inventory\n',
    );
  });

  it('sync keeps the health check hourly by default, on this task queue; --health-check-every changes it', async () => {
    const schedule = world.client.schedule.getHandle(healthSchedule());
    const description = await schedule.describe();
    expect(description.spec.intervals).toMatchObject([{ every: 3_600_000 }]);
    expect(description.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 60_000 });
    expect(description.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'healthCheck',
      workflowId: healthSchedule(),
      taskQueue: world.taskQueue,
      args: [{ requestedBy: 'schedule' }],
    });

    expect(await world.cli(['schedules', 'sync', '--health-check-every', '30m'])).toEqual({
      code: 0,
      stderr: '',
      stdout: `updated ${healthSchedule()}: every 1h → 30m\n`,
    });
    expect(await world.cli(['schedules', 'sync', '--health-check-every', 'often'])).toEqual({
      code: 2,
      stderr: 'rotator: --health-check-every: expected a duration such as "1h" or "30m"\n',
      stdout: '',
    });
  });

  it('lists, pauses and unpauses schedules', async () => {
    expect((await world.cli(['schedules', 'pause', id('jittered'), '--requested-by', 'bob'])).stdout).toBe(
      `paused ${scheduleOf('jittered')}\n`,
    );
    await until(async () => (await listed()).some((s) => s.paused));
    expect(await listed()).toEqual([
      expect.objectContaining({ scheduleId: scheduleOf('approval'), paused: false }),
      {
        scheduleId: scheduleOf('jittered'),
        credentialId: id('jittered'),
        everyMs: 12 * 3_600_000,
        jitterMs: 3_600_000,
        paused: true,
        note: 'paused by bob',
        nextRunAt: null,
        lastRunAt: null,
      },
      expect.objectContaining({
        scheduleId: scheduleOf('weekly'),
        paused: false,
        nextRunAt: expect.any(String),
      }),
    ]);
    const table = (await world.cli(['schedules', 'list'])).stdout.split('\n');
    expect(table[0]).toMatch(/^SCHEDULE\s+EVERY\s+JITTER\s+STATE\s+NEXT RUN\s+LAST RUN$/);
    expect(table[2]).toMatch(
      new RegExp(`^${scheduleOf('jittered')}\\s+12h\\s+1h\\s+paused \\(paused by bob\\)\\s+-\\s+-$`),
    );

    expect((await world.cli(['schedules', 'unpause', id('jittered'), '--json'])).stdout).toContain(
      '"action": "unpause"',
    );
    expect((await world.client.schedule.getHandle(scheduleOf('jittered')).describe()).state.paused).toBe(
      false,
    );
  });

  it('trigger runs the schedule now: a rotation rotate/<id> with reason scheduled, requested by schedule', async () => {
    const triggered = await world.cli(['schedules', 'trigger', id('weekly')]);
    expect(triggered.code).toBe(0);
    expect(triggered.stdout).toContain(
      `triggered ${scheduleOf('weekly')}: the rotation rotate/${id('weekly')} starts now`,
    );

    const rotation = world.client.workflow.getHandle(`rotate/${id('weekly')}`);
    await until(async () => (await rotation.describe().catch(() => undefined))?.status.name === 'COMPLETED');
    expect(await rotation.result()).toMatchObject({ outcome: 'not-due' });
    const history = await rotation.fetchHistory();
    const input = defined(history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]);
    expect(defaultPayloadConverter.fromPayload(input)).toEqual({
      credentialId: id('weekly'),
      reason: 'scheduled',
      requestedBy: 'schedule',
    });
    const parent = defined(
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.parentWorkflowExecution,
    );
    expect(parent?.workflowId).toMatch(new RegExp(`^${scheduleOf('weekly')}-\\d{4}-`));
  });

  it('a scheduled rotation never runs beside a manual one: the schedule’s run finds it already running', async () => {
    const { id: credentialId } = defined(seeded.approval);
    expect((await world.cli(['rotate', credentialId, '--force'])).code).toBe(0);
    await world.untilPhase(credentialId, 'awaiting-approval');

    expect((await world.cli(['schedules', 'trigger', credentialId])).code).toBe(0);
    const schedule = world.client.schedule.getHandle(scheduleOf('approval'));
    await until(async () => (await schedule.describe()).info.recentActions.length === 1);
    const [action] = (await schedule.describe()).info.recentActions;
    const scheduled = world.client.workflow.getHandle(defined(action).action.workflow.workflowId);
    expect(await scheduled.result()).toMatchObject({
      results: [{ credentialId, workflowId: `rotate/${credentialId}`, outcome: 'already-running' }],
    });

    // The manual rotation goes on undisturbed.
    await world.untilPhase(credentialId, 'awaiting-approval');
    expect((await world.cli(['abort', credentialId, '--reason', 'test over'])).code).toBe(0);
  });
});
