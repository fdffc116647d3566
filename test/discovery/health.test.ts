import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { Runtime } from '@temporalio/worker';
import { parse, stringify } from 'yaml';
import { EXPIRY_METRICS } from '../../src/discovery/gauges';
import { isoWeek } from '../../src/discovery/horizon';
import { UNMANAGED_ALERT_ID, type HealthReport } from '../../workflows/health-check';
import { healthWorld, type HealthWorld } from '../health/world';
import { until } from '../helpers/rotation';
import { testServers } from '../infra/test-servers';
import { VaultKvStore } from '../../src/vault';
import { inDays } from './world';

let world: HealthWorld;
let metricsPort: number;

/** A port free now, for the runtime's Prometheus endpoint. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const address = server.address();
  await new Promise((closed) => server.close(closed));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

beforeAll(async () => {
  metricsPort = await freePort();
  // The worker's runtime serves /metrics, as src/worker.ts installs it.
  Runtime.install({
    telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${metricsPort}` } } },
  });
  world = await healthWorld('discovery-health');
  const { state, project } = world.rotation.world;
  const seeded = await world.rotation.seed('managed');
  const token = (name: string, expiresAt: string) =>
    state.addResourceToken(project, 'project', { name, scopes: ['api'], expiresAt, accessLevel: 30 });
  // Within the 30 days of expiryWarning: two; beyond it: one; three in one week, over a cliff of 2.
  token('soon-a', inDays(8));
  token('soon-b', inDays(8));
  token('later', inDays(60));
  token('cliff-1', inDays(45));
  token('cliff-2', inDays(45));
  token('cliff-3', inDays(45));
  await manageOutsideTheWatch(state);
  world.rotation.writeInventory();
  const inventory = parse(readFileSync(world.rotation.inventoryPath, 'utf8')) as Record<string, unknown>;
  inventory.discovery = { horizon: '90d', horizonCliff: 2, watch: [{ gitlab: 'sim', group: 'platform' }] };
  writeFileSync(world.rotation.inventoryPath, stringify(inventory));
  expect(seeded.old.expiresAt).toBe('2099-12-31');
  await world.startWorker();
});

/**
 * A credential whose project no watched group holds, current in Vault and in its CI variable: its token
 * expires in 52 days, within the horizon and after its next rotation is due (policy.every 7d).
 */
async function manageOutsideTheWatch(state: HealthWorld['rotation']['world']['state']) {
  const project = state.addProject('elsewhere/tool');
  const tool = state.addResourceToken(project, 'project', {
    name: 'tool-ci',
    scopes: ['read_api'],
    expiresAt: inDays(52),
    accessLevel: 30,
  });
  const vault = world.rotation.vaultPath('tool');
  await new VaultKvStore(testServers().vault).write(vault, {
    token: tool.value,
    tokenId: String(tool.id),
    expiresAt: inDays(52),
  });
  state.addVariable(project, { key: 'TOOL_TOKEN', value: tool.value, masked: true });
  world.rotation.addCredential({
    id: 'tool',
    description: 'a token outside discovery.watch',
    environment: 'test',
    owner: 'team-test',
    source: {
      kind: 'gitlab-project-access-token',
      gitlab: 'sim',
      project: project.path,
      accessLevel: 'developer',
      tokenName: tool.name,
      scopes: ['read_api'],
      lifetimeDays: 30,
    },
    vault,
    targets: [{ kind: 'gitlab-ci-variable', gitlab: 'sim', project: project.path, key: 'TOOL_TOKEN' }],
    policy: { every: '7d', overlap: '0s' },
  });
}

afterAll(async () => {
  await world?.close();
});

describe('the health check and unmanaged tokens', () => {
  it('reports and alerts the unmanaged tokens expiring within discovery.expiryWarning (30 days by default)', async () => {
    const run = await world.cli(['health', '--json']);
    const report = JSON.parse(run.stdout) as HealthReport;
    expect(run.code).toBe(1);
    expect(report.credentials.every(({ problems }) => problems.length === 0)).toBe(true);
    expect(report.unmanaged).toMatchObject({ watched: 1, warningDays: 30, notListed: [], alertsFailed: [] });
    expect(report.unmanaged?.expiring.map(({ name, expiresAt }) => [name, expiresAt])).toEqual([
      ['soon-a', inDays(8)],
      ['soon-b', inDays(8)],
    ]);
    const [alert, ...more] = world.alertsOf(UNMANAGED_ALERT_ID);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({ kind: 'expiring', severity: 'warning' });
    expect(alert?.message).toMatch(/^2 token\(s\) no credential manages expire within 30 days/);

    const text = await world.cli(['health']);
    expect(text.stdout).toContain(
      `unmanaged: gitlab-project-access-token project platform/deployer "soon-a" expires ${inDays(8)} (within 30 days)`,
    );
  });

  it('sets the expiry gauges per ISO week, managed and not, and flags the cliff', async () => {
    const week = (days: number) => isoWeek(new Date(`${inDays(days)}T00:00:00Z`)).week;
    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      return (await response.text()).split('\n');
    };
    const line = (lines: string[], metric: string, labels: string[]) =>
      lines.find((l) => l.startsWith(`${metric}{`) && labels.every((label) => l.includes(label)));
    await until(async () => line(await scrape(), EXPIRY_METRICS.cliff, [`week="${week(45)}"`]) !== undefined);
    const lines = await scrape();
    const value = (metric: string, ...labels: string[]) =>
      Number(line(lines, metric, labels)?.split(' ').pop());
    expect(value(EXPIRY_METRICS.expiring, `week="${week(45)}"`, 'managed="false"')).toBe(3);
    expect(value(EXPIRY_METRICS.cliff, `week="${week(45)}"`)).toBe(1);
    expect(value(EXPIRY_METRICS.expiring, `week="${week(60)}"`, 'managed="false"')).toBe(1);
    expect(value(EXPIRY_METRICS.cliff, `week="${week(60)}"`)).toBe(0);
    // The managed credential's token expires in 2099: beyond the horizon.
    expect(value(EXPIRY_METRICS.expiring, `week="${week(8)}"`, 'managed="true"')).toBe(0);
    // The credential outside the watched group counts in its token's week, once (an administrator's list of
    // personal tokens shows its bot's token too).
    expect(value(EXPIRY_METRICS.expiring, `week="${week(52)}"`, 'managed="true"')).toBe(1);
    expect(value(EXPIRY_METRICS.expiring, `week="${week(52)}"`, 'managed="false"')).toBe(0);
  });
});
