import { randomBytes, randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ALERT_ROUTES } from '../src/incidents/alerts-server';
import { breakGlassWorkflowId } from '../src/incidents/request';
import { signatureOf } from '../src/incidents/signatures';
import { TEST_KV_MOUNT } from '../test/infra/test-servers';
import type { RotationStatus } from '../workflows/status';
import {
  renderBreakGlassTable,
  spreads,
  type BreakGlassOptions,
  type BreakGlassResults,
  type LeakFigures,
} from './break-glass-report';
import { benchHarness, log, type BenchHarness } from './harness';
import { historyCost, percentiles, pool, throughputAgainstFloor, watch } from './measure';
import { poolIds } from './world';

/*
 * `npm run bench -- --break-glass N`: alert-to-revocation time. Each leak is a seeded credential's current
 * token, reported to `rotator alerts-server` (its own process, the compiled CLI) through the generic signed
 * webhook, so that intake's matching across the stores is inside the measured time; the break-glass rotation
 * runs on a worker process as deployed. Beside it, Temporal's floor with as many no-op activities, in the
 * same run.
 */
const options = JSON.parse(process.env.BENCH_BREAK_GLASS_OPTIONS ?? 'null') as BreakGlassOptions | null;

/** Leaks reported before measuring, one at a time: the first one's history counts the floor's activities. */
const WARM_UP = 2;
/** Unknown-token alerts sent per inventory size. */
const MATCH_SAMPLES = 5;

(options === null ? test.skip : test)('break-glass benchmark', async () => {
  const o = options as BreakGlassOptions;
  const harness = await benchHarness();
  const { world, vault, client, serverPids } = harness;
  const leaks = WARM_UP + o.latencySamples + o.breakGlass;
  const poolSize = Math.max(leaks, ...o.inventories);
  log(`seeding ${poolSize} credentials, each a GitLab project token with 1 CI variable`);
  await world.seedPool(poolSize);
  const secret = randomBytes(32).toString('hex');
  const signing = { mount: TEST_KV_MOUNT, path: `bench/alerts-${randomUUID()}` };
  await vault.write(signing, { webhook: secret });
  const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-alerts-'));

  try {
    const ids = poolIds(leaks);
    const worker = await harness.rotationWorker('break-glass', ids);
    const alerts = await alertsServer(harness, {
      taskQueue: worker.taskQueue,
      inventoryPath: world.writeInventory('alerts', ids),
      secretField: `${signing.mount}/${signing.path}#webhook`,
      deliveries: join(dir, 'deliveries.json'),
    });
    /** Sends the generic webhook's delivery of `body`, signed as docs/incidents.md says. */
    const send = async (body: object) => {
      const text = JSON.stringify(body);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const response = await fetch(`${alerts.url}${ALERT_ROUTES.webhook}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-rotator-timestamp': timestamp,
          'x-rotator-delivery': randomUUID(),
          'x-rotator-signature': signatureOf(secret, `${timestamp}.${text}`),
        },
        body: text,
      });
      return { status: response.status, body: (await response.json()) as { result?: string } };
    };

    /** Reports pool credential `index`'s token as leaked, and waits for its break-glass rotation to end. */
    const leak = async (index: number, into: LeakFigures[]): Promise<void> => {
      const id = `pool-${index}`;
      const sentAt = Date.now();
      const answer = await send({ token: world.seededToken(id), source: 'bench' });
      if (answer.status !== 202 || answer.body.result !== 'started')
        throw new Error(`${id}: the alert was answered ${answer.status} ${JSON.stringify(answer.body)}`);
      const status: RotationStatus = await worker.resultOf(breakGlassWorkflowId(id));
      const timeline = status.incident?.timeline;
      if (status.outcome !== 'rotated' || timeline?.newTokenLiveAt === undefined)
        throw new Error(`${id}: ${status.outcome} ${status.detail}`);
      const received = Date.parse(timeline.alertReceivedAt);
      const since = (at: string) => (Date.parse(at) - received) / 1000;
      into.push({
        toRevocation: status.incident?.secondsToRevocation ?? NaN,
        toNewTokenLive: since(timeline.newTokenLiveAt),
        toMatched: since(timeline.matchedAt),
        postToReceived: (received - sentAt) / 1000,
      });
    };

    log(`warm-up: ${WARM_UP} leaks one at a time`);
    const warm: LeakFigures[] = [];
    await pool(WARM_UP, 1, (i) => leak(i, warm));
    const history = await client.workflow.getHandle(breakGlassWorkflowId('pool-0')).fetchHistory();
    const activities = historyCost(history).byKind['activity schedule'] ?? 0;
    log(`starting the floor worker (${activities} no-op activities per workflow)`);
    const floorWorker = harness.floorWorker(activities);
    const { floor } = floorWorker;
    await pool(5, 5, floor);
    const processes = {
      worker: worker.worker.pid,
      'alerts server': alerts.pid,
      'floor worker': floorWorker.pid,
      ...serverPids,
    };

    log(`one at a time: ${o.latencySamples} leaks, then as many floors (inventory of ${ids.length})`);
    const single: LeakFigures[] = [];
    const singleRun = await pool(o.latencySamples, 1, (i) => leak(WARM_UP + i, single));
    const singleFloor = await pool(o.latencySamples, 1, floor);

    log(`under load: ${o.breakGlass} leaks, ${o.concurrency} at a time, between two floor runs`);
    const loaded: LeakFigures[] = [];
    const first = WARM_UP + o.latencySamples;
    const load = await throughputAgainstFloor({
      count: o.breakGlass,
      concurrency: o.concurrency,
      rotate: (i) => leak(first + i, loaded),
      floor,
      watch: () => watch(processes),
    });
    await worker.stop();

    // Matching reads every credential's current (and previous) version before it says "not managed here":
    // its worst case, as the inventory grows. The alerts server reads its inventory anew at each alert.
    const matching: BreakGlassResults['matching'] = [];
    for (const size of o.inventories) {
      log(`matching: ${MATCH_SAMPLES} unknown tokens against an inventory of ${size}`);
      world.writeInventory('alerts', poolIds(size));
      const answers = await pool(MATCH_SAMPLES, 1, async () => {
        const answer = await send({ token: randomBytes(20).toString('hex'), source: 'bench' });
        if (answer.body.result !== 'not managed here')
          throw new Error(`an unknown token was answered ${answer.status} ${JSON.stringify(answer.body)}`);
      });
      matching.push({ credentials: size, answerMs: percentiles(answers.durations) });
    }
    await alerts.stop();

    const results: BreakGlassResults = {
      options: o,
      machine: { cpus: cpus().length, node: process.version },
      activities,
      inventory: ids.length,
      oneAtATime: {
        leaks: spreads(single),
        wallMs: percentiles(singleRun.durations),
        floorMs: percentiles(singleFloor.durations),
      },
      underLoad: {
        leaks: spreads(loaded),
        leaksPerSecond: load.rotationsPerSecond,
        floorPerSecond: load.floorPerSecond,
        floorRuns: load.floorRuns,
        ratio: load.ratio,
        wallMs: load.latencyUnderLoad,
        floorMs: load.floorLatencyUnderLoad,
        usage: load.usage,
        floorUsage: load.floorUsage,
      },
      matching,
    };
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\n${renderBreakGlassTable(results)}\nJSON: ${o.out}\n`);
  } finally {
    await harness.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * `rotator alerts-server` from the compiled CLI, in a process of its own as deployed, serving only the generic
 * webhook on a free port of 127.0.0.1; answers its URL, its process id and `stop`.
 */
async function alertsServer(
  harness: BenchHarness,
  at: { taskQueue: string; inventoryPath: string; secretField: string; deliveries: string },
) {
  const { servers, build } = harness;
  const child = spawn(
    process.execPath,
    [
      join(build.dir, 'src/cli.js'),
      ...['alerts-server', '--port', '0', '--host', '127.0.0.1'],
      ...['--webhook-secret', at.secretField, '--deliveries', at.deliveries],
      ...['--inventory', at.inventoryPath],
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        TEMPORAL_ADDRESS: servers.temporalAddress,
        TEMPORAL_TASK_QUEUE: at.taskQueue,
        VAULT_ADDR: servers.vault.endpoint,
        VAULT_TOKEN: servers.vault.token,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const started = output.split('\n').find((line) => line.includes('alerts server started'));
      if (started !== undefined) resolve((JSON.parse(started) as { port: number }).port);
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    void exited.then(() => reject(new Error(`the alerts server exited:\n${output.slice(-4000)}`)));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  harness.adopt(stop);
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop };
}
