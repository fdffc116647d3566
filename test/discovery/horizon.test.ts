import { isoWeek, type HorizonWeek } from '../../src/discovery/horizon';
import { VaultKvStore } from '../../src/vault';
import { testServers } from '../infra/test-servers';
import type { SimToken } from '../sim/gitlab/state';
import { discoveryWorld, inDays, type DiscoveryWorld } from './world';

let world: DiscoveryWorld;
let credentials: object[];

const weekOf = (days: number) => isoWeek(new Date(`${inDays(days)}T00:00:00Z`)).week;

beforeAll(async () => {
  world = await discoveryWorld();
  const { state } = world.gitlab;
  const project = state.addProject('platform/app');
  state.addGroup('platform');
  // A project no watched group holds, whose token a credential manages.
  const outside = state.addProject('elsewhere/tool');
  state.addGroup('elsewhere');
  const token = (name: string, expiresAt: string, owner = project) =>
    state.addResourceToken(owner, 'project', { name, scopes: ['api'], expiresAt, accessLevel: 40 });
  const managed = token('managed', inDays(21));
  for (let t = 0; t < 4; t += 1) token(`cliff-${t}`, inDays(35));
  token('alone', inDays(21));
  token('past-horizon', inDays(120));
  const elsewhere = token('elsewhere', inDays(28), outside);
  credentials = [
    await managedCredential('app', 'platform/app', managed),
    await managedCredential('tool', 'elsewhere/tool', elsewhere),
  ];
  world.writeInventory(credentials, {
    horizonCliff: 3,
    watch: [{ gitlab: 'gitlab-sim', group: 'platform' }],
  });
});

/** A credential managing a project's token, current in its secret as a rotation leaves it. */
async function managedCredential(id: string, project: string, token: SimToken) {
  const credential = world.credential(
    id,
    {
      kind: 'gitlab-project-access-token',
      gitlab: 'gitlab-sim',
      project,
      tokenName: token.name,
      scopes: ['api'],
      accessLevel: 'maintainer',
      lifetimeDays: 60,
    },
    [{ kind: 'gitlab-ci-variable', gitlab: 'gitlab-sim', project, key: 'TOKEN' }],
  );
  await new VaultKvStore(testServers().vault).write(credential.vault, {
    token: token.value,
    tokenId: String(token.id),
    expiresAt: String(token.expiresAt),
  });
  return credential;
}

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
    // The watched credential's token counts once, though both the listing and its credential name it.
    expect(at(21)).toMatchObject({ managed: 1, unmanaged: 1, cliff: false });
    // The credential outside the watched group counts from its own token's expiry.
    expect(at(28)).toMatchObject({ managed: 1, unmanaged: 0, cliff: false });
    expect(at(35)).toMatchObject({ managed: 0, unmanaged: 4, cliff: true });
    expect(weeks.filter((week) => week.cliff)).toHaveLength(1);
    // The admin token never expires, and the one in 120 days is past the horizon.
    expect(weeks.reduce((sum, week) => sum + week.managed + week.unmanaged, 0)).toBe(7);
    expect(JSON.parse(stdout)).toMatchObject({ notListed: [] });

    const table = await world.cli(['status', '--horizon', '90d']);
    expect(table.stdout).toMatch(/^WEEK\s+FROM\s+MANAGED\s+UNMANAGED\s+CLIFF$/m);
    expect(table.stdout).toMatch(
      new RegExp(`^${weekOf(35)}\\s+\\S+\\s+0\\s+4\\s+CLIFF \\(more than 3\\)$`, 'm'),
    );
  });

  it('counts the managed credentials alone when nothing is watched, and says unmanaged tokens are not looked for', async () => {
    world.writeInventory(credentials, { horizonCliff: 3 });
    const { code, stdout, stderr } = await world.cli(['status', '--horizon', '90d', '--json']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const { weeks, notListed } = JSON.parse(stdout) as { weeks: HorizonWeek[]; notListed: string[] };
    const counted = weeks.filter((week) => week.managed + week.unmanaged > 0);
    expect(counted.map(({ week, managed, unmanaged }) => ({ week, managed, unmanaged }))).toEqual([
      { week: weekOf(21), managed: 1, unmanaged: 0 },
      { week: weekOf(28), managed: 1, unmanaged: 0 },
    ]);
    expect(notListed).toEqual([
      'unmanaged tokens: not looked for: discovery.watch names no group, organization or repository',
    ]);

    const table = await world.cli(['status', '--horizon', '90d']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('unmanaged tokens: not looked for');
  });

  it('refuses a horizon that is no duration, naming the flag', async () => {
    const { code, stderr } = await world.cli(['status', '--horizon', 'soon']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--horizon: expected a duration/);
  });
});
