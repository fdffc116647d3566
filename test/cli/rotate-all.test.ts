import { Worker } from '@temporalio/worker';
import { defined } from '../gitlab/world';
import { until, type SeededCredential } from '../helpers/rotation';
import { cliWorld, type CliWorld } from './world';

let world: CliWorld;
/** The 30 credentials the selector picks, by the outcome each is set up to reach. */
const expected = new Map<string, string>();
const credentials = new Map<string, SeededCredential>();
let approval: SeededCredential;
let other: SeededCredential;
/** The rotateAll workflow of the run over 30 credentials. */
let parentId = '';

beforeAll(async () => {
  world = await cliWorld('cli-rotate-all');
  const { rotation } = world;
  const seed = async (name: string, outcome: string, options = {}) => {
    const credential = await rotation.seed(name, options);
    expected.set(credential.id, outcome);
    credentials.set(credential.id, credential);
    return credential;
  };
  for (let n = 1; n <= 20; n += 1) {
    // Older than policy.every: due.
    (await seed(`due-${n}`, 'rotated')).old.createdAt = '2020-01-01T00:00:00.000Z';
  }
  for (let n = 1; n <= 5; n += 1) await seed(`fresh-${n}`, 'not-due');
  for (let n = 1; n <= 2; n += 1) {
    (await seed(`broken-${n}`, 'rolled-back')).old.createdAt = '2020-01-01T00:00:00.000Z';
  }
  for (let n = 1; n <= 2; n += 1) {
    (await seed(`unapproved-${n}`, 'cancelled', { requireApproval: true })).old.createdAt =
      '2020-01-01T00:00:00.000Z';
  }
  approval = await seed('busy', 'already-running', { requireApproval: true });
  other = await rotation.seed('other-team');
  rotation.writeInventory();
  world.editInventory((entries) => {
    for (const entry of entries) {
      // Its only target is in a project GitLab does not have: distribute fails and the rotation rolls back.
      // Each its own key: two credentials may not write one variable.
      if (entry.id.includes('-broken-')) {
        const key = entry.id.toUpperCase().replace(/-/g, '_');
        entry.targets = [{ kind: 'gitlab-ci-variable', gitlab: 'sim', project: 'platform/missing', key }];
      }
      if (entry.id.includes('-unapproved-')) entry.policy = { ...entry.policy, approvalTimeout: '1s' };
      if (entry.id === other.id) entry.owner = 'team-other';
    }
  });
  await world.startWorker();
});

afterAll(async () => {
  await world?.close();
});

interface Result {
  credentialId: string;
  workflowId: string;
  runId?: string;
  outcome: string;
  detail: string;
  url: string;
}

describe('rotator rotate-all', () => {
  it('refuses a bad selector, concurrency or a selector that matches nothing with exit 2', async () => {
    expect(await world.cli(['rotate-all', '--selector', 'colour=blue'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /^rotator: --selector: expected key=value pairs with keys environment, id, owner, kind/,
      ),
    });
    expect(
      await world.cli(['rotate-all', '--selector', 'environment=test', '--concurrency', '0']),
    ).toMatchObject({
      code: 2,
      stderr: 'rotator: --concurrency: expected a whole number from 1 to 50\n',
    });
    expect(await world.cli(['rotate-all', '--selector', 'environment=production'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /^rotator: --selector: no credential of \S+ matches environment=production\n$/,
      ),
    });
    expect((await world.cli(['rotate-all'])).stderr).toBe(
      "error: required option '--selector <key=value>' not specified\n",
    );
  });

  it('rotates 30 matching credentials 5 at a time through child workflows, shows progress and every outcome', async () => {
    expect((await world.cli(['rotate', approval.id, '--force'])).code).toBe(0);
    await world.untilPhase(approval.id, 'awaiting-approval');

    const { code, stdout, stderr } = await world.cli([
      'rotate-all',
      '--selector',
      'environment=test,owner=team-test',
      '--concurrency',
      '5',
      '--reason',
      'manual',
    ]);

    expect({ code, stderr }).toEqual({ code: 1, stderr: '' });
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(
      /^rotating 30 credentials \(environment=test,owner=team-test\), 5 at a time: workflow rotate-all\/\S+$/,
    );
    parentId = defined(/workflow (rotate-all\/\S+)$/.exec(lines[0] ?? '')?.[1]);
    const progress = lines.filter((line) => line.startsWith('['));
    expect(progress.at(-1)).toBe(`[${'#'.repeat(30)}] 30/30 done, 0 running`);
    for (const line of progress) {
      const running = / (\d+) running$/.exec(line)?.[1];
      expect(Number(running)).toBeLessThanOrEqual(5);
    }

    const header = lines.findIndex((line) => /^CREDENTIAL\s+OUTCOME\s+DETAIL$/.test(line));
    expect(header).toBeGreaterThan(0);
    const rows = lines.slice(header + 1, header + 31).map((line) => line.split(/\s+/).slice(0, 2));
    expect(rows).toEqual([...expected.entries()]);
    expect(lines[header + 32]).toMatch(/^25 of 30 rotated, not due or dry run; look at: \S+-broken-1, /);

    for (const [id, outcome] of expected) {
      const credential = defined(credentials.get(id));
      if (outcome === 'rotated') await world.rotation.expectRotatedOnce(credential);
      else expect(world.rotation.newTokens(credential).filter((token) => !token.revoked)).toEqual([]);
    }
    expect(stdout).not.toContain(other.id);
  });

  it('never ran more than 5 rotations at once, by their start and close times in Temporal', async () => {
    const runs: { start: number; close: number }[] = [];
    for (const id of expected.keys()) {
      if (id === approval.id) continue;
      const description = await world.client.workflow.getHandle(`rotate/${id}`).describe();
      runs.push({ start: description.startTime.getTime(), close: defined(description.closeTime).getTime() });
    }
    const busiest = Math.max(
      ...runs.map(({ start }) => runs.filter((r) => r.start <= start && start < r.close).length),
    );
    // The first five start together, before any of them can close.
    expect(busiest).toBe(5);

    // The rotation that was already running is untouched: it still awaits approval.
    await world.untilPhase(approval.id, 'awaiting-approval');
    expect((await world.cli(['abort', approval.id, '--reason', 'test over'])).code).toBe(0);
  });

  it('the parent’s recorded history replays with the current workflow code', async () => {
    const history = await world.client.workflow.getHandle(parentId).fetchHistory();
    await expect(
      Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, parentId),
    ).resolves.toBeUndefined();
  });

  it('--json prints the workflow and one result per credential with its link; a dry run exits 0', async () => {
    const id = [...expected.keys()][0] ?? '';
    await until(
      async () =>
        (await world.client.workflow.getHandle(`rotate/${approval.id}`).describe()).status.name !== 'RUNNING',
    );
    const { code, stdout, stderr } = await world.cli([
      'rotate-all',
      '--selector',
      `id=${id}`,
      '--dry-run',
      '--json',
    ]);
    expect(code).toBe(0);
    expect(stderr).toContain('1/1 done, 0 running');
    const document = JSON.parse(stdout) as { workflowId: string; url: string; results: Result[] };
    expect(document).toEqual({
      workflowId: expect.stringMatching(/^rotate-all\//),
      url: expect.stringContaining('/workflows/rotate-all%2F'),
      results: [
        {
          credentialId: id,
          workflowId: `rotate/${id}`,
          runId: expect.any(String),
          outcome: 'dry-run',
          detail: expect.stringMatching(/^would rotate /),
          url: expect.stringContaining(`/workflows/rotate%2F${id}/`),
        },
      ],
    });
  });
});
