import { defined } from '../gitlab/world';
import { until, type SeededCredential } from '../helpers/rotation';
import { cliWorld, type CliWorld } from './world';

let world: CliWorld;
const seeded: Record<string, SeededCredential> = {};

beforeAll(async () => {
  world = await cliWorld('cli-status');
  const { rotation } = world;
  seeded.done = await rotation.seed('done', { groupVariable: true });
  seeded.running = await rotation.seed('running', { overlap: '1h' });
  seeded.never = await rotation.seed('never');
  rotation.writeInventory();
  await world.startWorker();
  expect((await world.cli(['rotate', id('done'), '--force', '--wait'])).code).toBe(0);
  expect((await world.cli(['rotate', id('done'), '--dry-run', '--force', '--wait'])).code).toBe(0);
  expect((await world.cli(['rotate', id('running'), '--force'])).code).toBe(0);
  await world.untilPhase(id('running'), 'overlapping');
});

afterAll(async () => {
  if (world !== undefined) {
    await world.cli(['end-overlap', id('running')]);
    await world.client.workflow.getHandle(`rotate/${id('running')}`).result();
    await world.close();
  }
});

const id = (name: string) => defined(seeded[name]).id;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const DAY_MS = 86_400_000;

interface Row {
  credentialId: string;
  last?: { state: string; phase?: string; outcome?: string; startedAt: string };
  lastRotatedAt?: string;
  nextDueAt?: string;
}

/** `rotator status --json` once visibility shows the rotations started above. */
async function statusRows(): Promise<Row[]> {
  let rows: Row[] = [];
  const settled = (list: Row[]) => {
    const byId = (name: string) => list.find((row) => row.credentialId === id(name));
    return byId('done')?.last?.state === 'dry-run' && byId('running')?.last?.phase === 'overlapping';
  };
  await until(async () => {
    rows = JSON.parse((await world.cli(['status', '--json'])).stdout) as Row[];
    return settled(rows);
  });
  return rows;
}

describe('rotator status', () => {
  it('lists every credential of the inventory with its last rotation, phase, next due time and age (--json and table)', async () => {
    const rows = await statusRows();
    expect(rows.map((row) => row.credentialId)).toEqual([id('done'), id('running'), id('never')]);
    const [done, running, never] = rows;
    expect(done).toEqual({
      credentialId: id('done'),
      environment: 'test',
      last: expect.objectContaining({
        state: 'dry-run',
        outcome: 'dry-run',
        workflowId: `rotate/${id('done')}`,
      }),
      lastRotatedAt: expect.stringMatching(ISO),
      nextDueAt: expect.stringMatching(ISO),
      ageSeconds: expect.any(Number),
      overdue: false,
    });
    // policy.every is 7d: the next rotation is due 7 days after the last one that rotated.
    expect(Date.parse(defined(done?.nextDueAt)) - Date.parse(defined(done?.lastRotatedAt))).toBe(7 * DAY_MS);
    expect(running).toMatchObject({ last: { state: 'running', phase: 'overlapping' } });
    expect(never).toEqual({ credentialId: id('never'), environment: 'test', overdue: false });

    const { code, stdout } = await world.cli(['status']);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^CREDENTIAL\s+ENVIRONMENT\s+LAST ROTATION\s+STATE\s+LAST ROTATED\s+AGE\s+NEXT DUE$/,
    );
    expect(lines[1]).toMatch(
      new RegExp(`^${id('done')}\\s+test\\s+\\S+Z\\s+dry-run\\s+\\S+Z\\s+[\\dsmhd ]+\\s+\\S+Z$`),
    );
    expect(lines[2]).toMatch(
      new RegExp(
        `^${id('running')}\\s+test\\s+\\S+Z\\s+running \\(overlapping\\)\\s+-\\s+-\\s+now \\(never rotated\\)$`,
      ),
    );
    expect(lines[3]).toMatch(
      new RegExp(`^${id('never')}\\s+test\\s+-\\s+never\\s+-\\s+-\\s+now \\(never rotated\\)$`),
    );
  });

  it('shows one rotation in detail from its status query: phase, vault versions, tokens, targets, timeline', async () => {
    await statusRows();
    const { code, stdout, stderr } = await world.cli(['status', id('running')]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(`${id('running')}: rotating, phase overlapping`);
    expect(lines[1]).toMatch(new RegExp(`^  workflow  rotate/${id('running')} \\(run \\S+\\)$`));
    expect(lines[2]).toMatch(
      new RegExp(
        `^  web UI    http://localhost:8233/namespaces/default/workflows/rotate%2F${id('running')}/\\S+/history$`,
      ),
    );
    expect(stdout).toContain('  versions  current v2, previous v1, staged v1\n');
    expect(stdout).toMatch(/\n {2}tokens {4}old \d+, new \d+\n/);
    expect(stdout).toMatch(/\n {2}overlap {3}ends \S+Z\n/);
    expect(stdout).toMatch(/\n {2}targets\n {4}written +project platform\/deployer CI variable \S+_P/);
    for (const step of ['load', 'detect', 'issue', 'verify', 'distribute', 'promote']) {
      expect(stdout).toMatch(new RegExp(`\n    \\S+Z  ok +${step}\n`));
    }
    expect(stdout).toMatch(/\n {4}\S+Z {2}running overlap window\n/);

    const json = JSON.parse((await world.cli(['status', id('done'), '--json'])).stdout) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({
      credentialId: id('done'),
      rotation: {
        workflowId: `rotate/${id('done')}`,
        state: 'dry-run',
        url: expect.stringContaining('/history'),
      },
      status: { credentialId: id('done'), phase: 'done', outcome: 'dry-run', timeline: expect.any(Array) },
    });
  });

  it('says when a credential was never rotated, and refuses an unknown id with exit 2', async () => {
    expect(await world.cli(['status', id('never')])).toEqual({
      code: 0,
      stdout: `${id('never')} has not been rotated by cred-rotator yet: \`rotator rotate ${id('never')}\` starts one\n`,
      stderr: '',
    });
    expect((await world.cli(['status', 'nope'])).code).toBe(2);
  });
});

describe('rotator history', () => {
  it('lists past rotations from visibility, newest first, with outcome and a Web UI link per run', async () => {
    await statusRows();
    const runs = JSON.parse((await world.cli(['history', id('done'), '--json'])).stdout) as {
      runId: string;
      state: string;
      startedAt: string;
      closedAt: string;
      url: string;
    }[];
    expect(runs.map((run) => run.state)).toEqual(['dry-run', 'rotated']);
    expect(runs[0]?.startedAt.localeCompare(runs[1]?.startedAt ?? '')).toBe(1);
    for (const run of runs) {
      expect(run.closedAt).toMatch(ISO);
      expect(run.url).toBe(
        `http://localhost:8233/namespaces/default/workflows/rotate%2F${id('done')}/${run.runId}/history`,
      );
    }

    const { code, stdout } = await world.cli(['history', id('done')], {
      TEMPORAL_UI_URL: 'https://temporal.example.com/',
    });
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^STARTED\s+ENDED\s+OUTCOME\s+WEB UI$/);
    expect(lines[1]).toMatch(
      /^\S+Z\s+\S+Z\s+dry-run\s+https:\/\/temporal\.example\.com\/namespaces\/default\/workflows\//,
    );
    expect(lines[2]).toMatch(/\s+rotated\s+https:/);
    expect(await world.cli(['history', id('never')])).toMatchObject({
      code: 0,
      stdout: `${id('never')} has not been rotated by cred-rotator yet\n`,
    });
  });
});
