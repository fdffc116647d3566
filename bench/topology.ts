/*
 * `npm run bench -- --topology production`: the bench's floor comparison on the production topology
 * (topology/, docs/topology.md), where Temporal keeps its state in PostgreSQL and every client speaks mTLS,
 * against the dev server's SQLite in `npm run bench`. It measures Temporal's floor (bench/floor: a workflow
 * running as many no-op activities as a rotation does) one at a time and `--concurrency` at a time, and a
 * rotation one at a time (the sandbox's credential without overlap) against the floor. The floor's payloads
 * are in clear, as in `npm run bench`; the rotation's are encrypted with the topology's codec keys. The sandbox has four
 * credentials, one rotation each at a time, so rotation throughput at 50 at once is not measured here.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Client } from '@temporalio/client';
import { startRotation } from '../src/rotations';
import { parseOrThrow } from '../src/validation';
import { startService, waitFor } from '../topology/process';
import { startTopology } from '../topology/topology';
import { percentiles, pool } from './measure';

const count = z
  .string()
  .regex(/^\d+$/, 'expected a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1));
const optionsSchema = z
  .object({
    topology: z.literal('production'),
    latencySamples: count.default(10),
    floors: count.default(200),
    concurrency: count.default(50),
    dir: z.string().min(1).default('.cache/topology-bench'),
    out: z.string().min(1).default('bench/results/topology.json'),
  })
  .strict();
type Options = z.output<typeof optionsSchema>;

/** The credential rotated for latency: the sandbox's one without an overlap, so no wait is measured. */
const CREDENTIAL = 'release-bot-production';
const FLOOR_WORKER = join(__dirname, 'floor/worker.js');
const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function bench(options: Options): Promise<void> {
  const topology = await startTopology({ dir: resolve(options.dir), workers: 1, progress: log });
  try {
    const { client, taskQueue, certificates, temporal } = topology;
    const rotate = async () => {
      const handle = await startRotation(client, taskQueue, {
        credentialId: CREDENTIAL,
        reason: 'manual',
        requestedBy: 'bench',
        force: true,
      });
      const result = await handle.result();
      if (result.outcome !== 'rotated') throw new Error(`${CREDENTIAL}: ${result.outcome}, not rotated`);
      return handle;
    };
    // The floor runs as many activities as this rotation scheduled, counted in its history.
    const first = await rotate();
    const history = await first.fetchHistory();
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
      log(`warming up; the floor runs ${activities} no-op activities, as the rotation scheduled`);
      await pool(5, 5, floor);
      log(`latency: ${options.latencySamples} rotations and floors, one at a time`);
      const rotations = await pool(options.latencySamples, 1, async () => {
        await rotate();
      });
      const floorsSingle = await pool(options.latencySamples, 1, floor);
      log(`floor throughput: ${options.floors} floors, ${options.concurrency} at a time`);
      const floors = await pool(options.floors, options.concurrency, floor);
      const report = {
        options,
        date: new Date().toISOString(),
        activitiesPerRotation: activities,
        latencyMs: {
          rotation: percentiles(rotations.durations),
          floor: percentiles(floorsSingle.durations),
          ratio: percentiles(rotations.durations).median / percentiles(floorsSingle.durations).median,
        },
        floorThroughput: {
          perSecond: floors.perSecond,
          seconds: floors.seconds,
          concurrency: options.concurrency,
        },
      };
      mkdirSync(dirname(options.out), { recursive: true });
      writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } finally {
      await floorWorker.stop();
    }
  } finally {
    await topology.stop();
  }
}

if (require.main === module) {
  const names = ['topology', 'latency-samples', 'floors', 'concurrency', 'dir', 'out'];
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
