/*
 * `npm run bench -- --topology production`: the bench's throughput and latency figures against Temporal's
 * floor on the production topology (topology/, docs/topology.md), where Temporal keeps its state in
 * PostgreSQL and every client speaks mTLS, against the dev server's SQLite in `npm run bench`. The topology
 * starts with the bench's inventory (bench/world.ts: a pool of credentials with one GitLab CI variable each
 * and no overlap) instead of the sandbox's. It measures, as `npm run bench` does, a rotation and the floor
 * (bench/floor: a workflow running as many no-op activities as a rotation does) one at a time, then
 * `--rotations` of each `--concurrency` at a time, the floor before and after the rotations. The floor's
 * payloads are in clear, as in `npm run bench`; the rotation's are encrypted with the topology's codec keys.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Client } from '@temporalio/client';
import { startRotation } from '../src/rotations';
import { parseOrThrow } from '../src/validation';
import { TEST_KV_MOUNT } from '../test/infra/test-servers';
import { startService, waitFor } from '../topology/process';
import { startTopology, type WorldBuilder } from '../topology/topology';
import { childrenOf, percentiles, pool, throughputAgainstFloor, watch } from './measure';
import { busiest, f, markdownTable, ms, verdict } from './report';
import { benchWorld, poolIds } from './world';

const count = z
  .string()
  .regex(/^\d+$/, 'expected a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1));
const optionsSchema = z
  .object({
    topology: z.literal('production'),
    rotations: count.default(200),
    latencySamples: count.default(10),
    concurrency: count.default(50),
    dir: z.string().min(1).default('.cache/topology-bench'),
    out: z.string().min(1).default('bench/results/topology.json'),
  })
  .strict();
type Options = z.output<typeof optionsSchema>;

const FLOOR_WORKER = join(__dirname, 'floor/worker.js');
const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** The bench's pool of `ids`, seeded in the topology's simulators and Vault. */
const poolWorld =
  (ids: string[]): WorldBuilder =>
  async ({ store, enableKv, atStop }) => {
    await enableKv(TEST_KV_MOUNT);
    const world = await benchWorld(store);
    atStop(() => world.close());
    log(`seeding ${ids.length} credentials with 1 target each`);
    await world.seedPool(ids.length);
    return { gitlab: world.gitlab.sim, github: world.github.sim, inventoryText: world.inventoryText(ids) };
  };

async function bench(options: Options): Promise<void> {
  const ids = poolIds(Math.max(options.rotations, options.latencySamples));
  const topology = await startTopology({
    dir: resolve(options.dir),
    workers: 1,
    progress: log,
    world: poolWorld(ids),
  });
  try {
    const { client, taskQueue, certificates, temporal } = topology;
    const rotate = async (credentialId: string) => {
      const handle = await startRotation(client, taskQueue, {
        credentialId,
        reason: 'manual',
        requestedBy: 'bench',
        force: true,
      });
      const result = await handle.result();
      if (result.outcome !== 'rotated')
        throw new Error(`${credentialId}: ${result.outcome}, not rotated: ${result.detail}`);
      return handle;
    };
    const rotatePool = (i: number) => rotate(ids[i] ?? '').then(() => undefined);
    // The floor runs as many activities as a rotation scheduled, counted in its history.
    const history = await (await rotate(ids[0] ?? '')).fetchHistory();
    const activities = (history.events ?? []).filter(
      (event) => event.activityTaskScheduledEventAttributes,
    ).length;

    const floorQueue = `bench-floor-${randomUUID()}`;
    const worker = certificates.workers[0];
    if (worker === undefined) throw new Error('the topology issued no worker certificate');
    const floorWorker = startService(
      'the floor worker',
      process.execPath,
      [FLOOR_WORKER],
      join(topology.dir, 'private/floor-worker.log'),
      {
        env: {
          TEMPORAL_ADDRESS: temporal.address,
          TEMPORAL_NAMESPACE: temporal.namespace,
          TEMPORAL_TASK_QUEUE: floorQueue,
          TEMPORAL_TLS_CA: certificates.caFile,
          TEMPORAL_TLS_CERT: worker.certFile,
          TEMPORAL_TLS_KEY: worker.keyFile,
          TEMPORAL_TLS_SERVER_NAME: 'localhost',
        },
      },
    );
    try {
      await waitFor(
        floorWorker,
        async () =>
          readFileSync(floorWorker.logFile, 'utf8').includes('floor worker started') ? true : undefined,
        60_000,
      );
      // Temporal's own floor, as in `npm run bench`: its payloads are not encrypted (the rotation's are).
      const floorClient = new Client({ connection: client.connection, namespace: temporal.namespace });
      const floor = async () => {
        await floorClient.workflow.execute('floor', {
          taskQueue: floorQueue,
          workflowId: `floor/${randomUUID()}`,
          args: [activities],
        });
      };
      const postgres = topology.postgres.service.child.pid;
      const processes = {
        worker: topology.workers[0]?.service.child.pid,
        'Temporal server': temporal.service.child.pid,
        // Its backends do the work: one process per connection of Temporal's pool.
        PostgreSQL: postgres === undefined ? undefined : [postgres, ...childrenOf(postgres)],
        Vault: topology.vault.service.child.pid,
        'floor worker': floorWorker.child.pid,
        'bench (driver, simulators)': process.pid,
      };

      log(`warming up; the floor runs ${activities} no-op activities, as a rotation scheduled`);
      await pool(5, 5, rotatePool);
      await pool(5, 5, floor);
      log(`latency: ${options.latencySamples} rotations and floors, one at a time`);
      const single = await pool(options.latencySamples, 1, rotatePool);
      const floorSingle = await pool(options.latencySamples, 1, floor);

      log(
        `throughput: ${options.rotations} rotations, ${options.concurrency} at a time, between two floor runs`,
      );
      const throughput = await throughputAgainstFloor({
        count: options.rotations,
        concurrency: options.concurrency,
        rotate: rotatePool,
        floor,
        watch: () => watch(processes),
      });
      const report = {
        options,
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, node: process.version, loadAverageAtEnd: loadavg() },
        activitiesPerRotation: activities,
        latency: {
          rotation: percentiles(single.durations),
          floor: percentiles(floorSingle.durations),
          ratio: percentiles(single.durations).median / percentiles(floorSingle.durations).median,
        },
        throughput: { inventory: ids.length, concurrency: options.concurrency, ...throughput },
      };
      mkdirSync(dirname(options.out), { recursive: true });
      writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
      const { latency } = report;
      const rows = [
        [
          `throughput, ${options.concurrency} at a time (rotations/s ÷ floor/s)`,
          `${f(throughput.rotationsPerSecond)}/s ÷ ${f(throughput.floorPerSecond)}/s = ${f(throughput.ratio)} ` +
            `(floor before ${throughput.floorRuns.map((rate) => `${f(rate)}/s`).join(', after ')})`,
          '≥ 0.8',
          verdict(throughput.ratio >= 0.8),
        ],
        ['CPU while rotating (100% = 1 core)', busiest(throughput.usage), '', ''],
        ['CPU while the floor runs', busiest(throughput.floorUsage), '', ''],
        [
          'latency, one at a time (median / p95)',
          `${ms(latency.rotation)}; floor ${ms(latency.floor)}; rotation ÷ floor ${f(latency.ratio)}`,
          '',
          '',
        ],
        [`latency at ${options.concurrency} at a time`, ms(throughput.latencyUnderLoad), '', ''],
      ];
      process.stdout.write(
        `\n${markdownTable(['figure (PostgreSQL topology)', 'measured', 'target', ''], rows)}\nJSON: ${options.out}\n`,
      );
    } finally {
      await floorWorker.stop();
    }
  } finally {
    await topology.stop();
  }
}

if (require.main === module) {
  const names = ['topology', 'rotations', 'latency-samples', 'concurrency', 'dir', 'out'];
  const { values } = parseArgs({
    options: Object.fromEntries(names.map((name) => [name, { type: 'string' as const }])),
  });
  const camel = Object.fromEntries(
    Object.entries(values).map(([name, value]) => [
      name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
      value,
    ]),
  );
  bench(parseOrThrow(optionsSchema, camel, 'the options of npm run bench -- --topology')).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
