import { isoWeek, type HorizonWeek } from '../../src/discovery/horizon';
import { discoveryWorld, inDays, type DiscoveryWorld } from './world';

let world: DiscoveryWorld;

const weekOf = (days: number) => isoWeek(new Date(`${inDays(days)}T00:00:00Z`)).week;

beforeAll(async () => {
  world = await discoveryWorld();
  const { state } = world.gitlab;
  const project = state.addProject('platform/app');
  state.addGroup('platform');
  const token = (name: string, expiresAt: string) =>
    state.addResourceToken(project, 'project', { name, scopes: ['api'], expiresAt, accessLevel: 40 });
  token('managed', inDays(21));
  for (let t = 0; t < 4; t += 1) token(`cliff-${t}`, inDays(35));
  token('alone', inDays(21));
  token('past-horizon', inDays(120));
  world.writeInventory(
    [
      world.credential(
        'app',
        {
          kind: 'gitlab-project-access-token',
          gitlab: 'gitlab-sim',
          project: 'platform/app',
          tokenName: 'managed',
          scopes: ['api'],
          accessLevel: 'maintainer',
          lifetimeDays: 60,
        },
        [{ kind: 'gitlab-ci-variable', gitlab: 'gitlab-sim', project: 'platform/app', key: 'TOKEN' }],
      ),
    ],
    { horizonCliff: 3, watch: [{ gitlab: 'gitlab-sim', group: 'platform' }] },
  );
});

afterAll(async () => {
  await world?.close();
});

describe('isoWeek', () => {
  it('numbers weeks as ISO 8601 does, across the turn of a year', () => {
    expect(isoWeek(new Date('2026-12-31T12:00:00Z')).week).toBe('2026-W53');
    expect(isoWeek(new Date('2027-01-03T00:00:00Z')).week).toBe('2026-W53');
    expect(isoWeek(new Date('2027-01-04T00:00:00Z')).week).toBe('2027-W01');
    expect(isoWeek(new Date('2025-12-29T00:00:00Z'))).toEqual({
      week: '2026-W01',
      monday: new Date('2025-12-29T00:00:00Z'),
    });
  });
});

describe('rotator status --horizon', () => {
  it('counts the managed and unmanaged tokens expiring each ISO week and flags the week over the cliff', async () => {
    const { code, stdout, stderr } = await world.cli(['status', '--horizon', '90d', '--json']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const { weeks, horizonCliff } = JSON.parse(stdout) as { weeks: HorizonWeek[]; horizonCliff: number };
    expect(horizonCliff).toBe(3);
    expect(weeks[0]?.week).toBe(weekOf(0));
    expect(weeks.at(-1)?.week).toBe(weekOf(90));
    const at = (days: number) => weeks.find((week) => week.week === weekOf(days));
    expect(at(21)).toMatchObject({ managed: 1, unmanaged: 1, cliff: false });
    expect(at(35)).toMatchObject({ managed: 0, unmanaged: 4, cliff: true });
    expect(weeks.filter((week) => week.cliff)).toHaveLength(1);
    // The admin token never expires, and the one in 120 days is past the horizon.
    expect(weeks.reduce((sum, week) => sum + week.managed + week.unmanaged, 0)).toBe(6);

    const table = await world.cli(['status', '--horizon', '90d']);
    expect(table.stdout).toMatch(/^WEEK\s+FROM\s+MANAGED\s+UNMANAGED\s+CLIFF$/m);
    expect(table.stdout).toMatch(
      new RegExp(`^${weekOf(35)}\\s+\\S+\\s+0\\s+4\\s+CLIFF \\(more than 3\\)$`, 'm'),
    );
  });

  it('refuses a horizon that is no duration, naming the flag', async () => {
    const { code, stderr } = await world.cli(['status', '--horizon', 'soon']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--horizon: expected a duration/);
  });
});
