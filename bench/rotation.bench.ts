import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { verifyAuditLog } from '../src/audit';
import { runCli } from '../src/cli';
import { loadInventory } from '../src/inventory/load';
import { startRotation } from '../src/rotations';
import { httpRelay } from '../test/helpers/http-relay';
import { testAuditTrust } from '../test/helpers/audit';
import { benchHarness, log } from './harness';
import { historyCost, percentiles, pool, rssMb, tally, throughputAgainstFloor, watch } from './measure';
import { renderTable, type BenchOptions, type BenchResults } from './report';
import { poolIds } from './world';

const options = JSON.parse(process.env.BENCH_OPTIONS ?? 'null') as BenchOptions | null;

/** The minimum calls a happy-path rotation needs, per provider, with `gitlabTargets` CI variables and `githubTargets` secrets. */
function minimumCalls(gitlabTargets: number, githubTargets: number) {
  return {
    // inspect at detect, issue, verify, inspect the old token after the window, revoke; snapshot and write each target.
    gitlab: 5 + 2 * gitlabTargets,
    // snapshot, then the public key and the put of each write.
    github: 3 * githubTargets,
    // read current and staged version at detect, stage, read it at verify, at each write and at promote, write current.
    vault: 6 + gitlabTargets + githubTargets,
  };
}

(options === null ? test.skip : test)('benchmark', async () => {
  const o = options as BenchOptions;
  const harness = await benchHarness({ workflowCache: o.workflowCache });
  const { world, client, serverPids, rotationWorker, servers } = harness;
  const poolSize = Math.max(o.rotations, o.latencySamples, ...o.growth);
  log(`seeding ${poolSize} credentials with 1 target, 2 for the cost figure, ${o.parked} to park`);
  await world.seedPool(poolSize);
  await world.seed('cost-1', { targets: 1, overlap: '0s' });
  await world.seed('cost-5', { targets: 5, overlap: '0s' });
  await pool(o.parked, 16, (i) => world.seed(`park-${i}`, { targets: 1, overlap: '24h' }));

  const results: Partial<BenchResults> = {
    options: o,
    machine: { cpus: cpus().length, node: process.version },
  };

  try {
    // 3 and 4: the cost of one rotation, with Vault behind a relay that counts its calls.
    log('cost per rotation and API calls (1 and 5 targets)');
    const relay = await httpRelay(servers.vault.endpoint);
    const counted = await rotationWorker('cost', ['cost-1', 'cost-5'], relay.url);
    await counted.rotate('cost-1'); // warm-up
    const costOf = async (credentialId: string, gitlabTargets: number, githubTargets: number) => {
      world.gitlab.sim.calls.length = 0;
      world.github.sim.calls.length = 0;
      relay.requests.length = 0;
      await counted.rotate(credentialId);
      const history = await client.workflow.getHandle(`rotate/${credentialId}`).fetchHistory();
      return {
        ...historyCost(history),
        calls: {
          gitlab: world.gitlab.sim.calls.length,
          github: world.github.sim.calls.length,
          vault: relay.requests.length,
        },
        minimum: minimumCalls(gitlabTargets, githubTargets),
        detail: {
          gitlab: world.gitlab.sim.callCounts(),
          github: world.github.sim.callCounts(),
          vault: tally(
            relay.requests,
            ({ method, path }) => `${method} ${path.replace(/\/bench\/[^/]+/, '/…')}`,
          ),
        },
      };
    };
    results.cost = { oneTarget: await costOf('cost-1', 1, 0), fiveTargets: await costOf('cost-5', 3, 2) };
    await counted.stop();
    await relay.close();
    const activities = results.cost.oneTarget.byKind['activity schedule'] ?? 0;

    log(`starting the floor worker (${activities} no-op activities per workflow)`);
    const floorWorker = harness.floorWorker(activities);
    const { floor } = floorWorker;
    /** A rotation worker for one phase: what it and the servers use is watched, and it is stopped after. */
    const phaseWorker = async (name: string, ids: string[], replicas = 1) => {
      const phase = await rotationWorker(name, ids, undefined, replicas);
      const workerPids = phase.workers.flatMap(({ pid }) => (pid === undefined ? [] : [pid]));
      const processes = { worker: workerPids, 'floor worker': floorWorker.pid, ...serverPids };
      const warmUp = ids.filter((id) => id.startsWith('pool-')).slice(0, 5);
      await pool(warmUp.length, 5, (i) => phase.rotate(warmUp[i] ?? '').then(() => undefined));
      await pool(5, 5, floor);
      return { ...phase, watch: () => watch(processes) };
    };

    // 2: latency, one at a time; 1: throughput against the floor, measured before and after.
    const main = await phaseWorker('main', poolIds(Math.max(o.rotations, o.latencySamples)));
    log(`latency: ${o.latencySamples} rotations and floors, one at a time (inventory of ${main.inventory})`);
    const steps = new Map<string, number[]>();
    const single = await pool(o.latencySamples, 1, async (i) => {
      const status = await main.rotate(`pool-${i}`);
      for (const entry of status.timeline) {
        if (entry.endedAt === undefined) continue;
        const ms = Date.parse(entry.endedAt) - Date.parse(entry.startedAt);
        steps.set(entry.step, [...(steps.get(entry.step) ?? []), ms]);
      }
    });
    const floorSingle = await pool(o.latencySamples, 1, floor);
    results.latency = {
      rotation: percentiles(single.durations),
      floor: percentiles(floorSingle.durations),
      steps: Object.fromEntries([...steps].map(([step, values]) => [step, percentiles(values)])),
    };

    log(`throughput: ${o.rotations} rotations, ${o.concurrency} at a time, between two floor runs`);
    const rotatePool = (phase: { rotate(id: string): Promise<unknown> }) => (i: number) =>
      phase.rotate(`pool-${i}`).then(() => undefined);
    results.throughput = {
      inventory: main.inventory,
      ...(await throughputAgainstFloor({
        count: o.rotations,
        concurrency: o.concurrency,
        rotate: rotatePool(main),
        floor,
        watch: main.watch,
      })),
    };
    await main.stop();
    world.gitlab.sim.calls.length = 0;

    // 2 (horizontal): the same rotations on one worker, then on `workers` processes sharing its task queue.
    if (o.workers > 1) {
      log(
        `horizontal: ${o.rotations} rotations, ${o.concurrency} at a time, on 1 worker, then on ${o.workers}`,
      );
      const single = await phaseWorker('horizontal-1', poolIds(o.rotations));
      const alone = await pool(o.rotations, o.concurrency, rotatePool(single));
      await single.stop();
      const shared = await phaseWorker(`horizontal-${o.workers}`, poolIds(o.rotations), o.workers);
      const watching = shared.watch();
      const together = await pool(o.rotations, o.concurrency, rotatePool(shared));
      const usage = watching.stop();
      await shared.stop();
      results.horizontal = {
        workers: o.workers,
        onePerSecond: alone.perSecond,
        manyPerSecond: together.perSecond,
        ratio: together.perSecond / alone.perSecond,
        usage,
      };
      world.gitlab.sim.calls.length = 0;
    }

    // 6: growth, on one worker whose inventory holds the largest batch.
    const grown = await phaseWorker('growth', poolIds(Math.max(...o.growth)));
    results.growth = [];
    for (const n of o.growth) {
      log(`growth: ${n} rotations at once, and ${n} floors at once (inventory of ${grown.inventory})`);
      const floorRun = await pool(n, n, floor);
      const watchingN = grown.watch();
      const run = await pool(n, n, rotatePool(grown));
      const usageN = watchingN.stop();
      world.gitlab.sim.calls.length = 0;
      results.growth.push({
        concurrent: n,
        inventory: grown.inventory,
        rotationsPerSecond: run.perSecond,
        floorPerSecond: floorRun.perSecond,
        ratio: run.perSecond / floorRun.perSecond,
        latency: percentiles(run.durations),
        workerPeakRssMb: usageN.worker?.peakRssMb ?? NaN,
        usage: usageN,
      });
    }
    await grown.stop();

    // 5: rotations parked in their overlap window, and whether others still progress beside them.
    const parkIds = Array.from({ length: o.parked }, (_, i) => `park-${i}`);
    const parking = await phaseWorker('parked', [...parkIds, ...poolIds(o.latencySamples)]);
    log(`scale: parking ${o.parked} rotations in a 24h overlap window (inventory of ${parking.inventory})`);
    const parkStart = performance.now();
    const watchingParked = parking.watch();
    await pool(o.parked, 50, async (i) => {
      await startRotation(client, parking.taskQueue, {
        credentialId: `park-${i}`,
        reason: 'manual',
        requestedBy: 'bench',
        force: true,
      });
    });
    const overlapping = `TaskQueue="${parking.taskQueue}" AND RotationPhase="overlapping"`;
    let parkedNow = 0;
    const deadline = Date.now() + Math.max(120_000, o.parked * 400);
    while (
      Date.now() < deadline &&
      (parkedNow = (await client.workflow.count(overlapping)).count) < o.parked
    ) {
      await new Promise((wake) => setTimeout(wake, 2_000));
    }
    const parkSeconds = (performance.now() - parkStart) / 1000;
    const parkUsage = watchingParked.stop();
    log(
      `${parkedNow} parked after ${parkSeconds.toFixed(0)}s; rotating ${o.latencySamples} more one at a time`,
    );
    const beside = await pool(o.latencySamples, 1, rotatePool(parking));
    const rssAfter = parking.worker.pid === undefined ? NaN : rssMb(parking.worker.pid);
    results.parked = {
      requested: o.parked,
      parked: parkedNow,
      secondsToPark: parkSeconds,
      workerRssMb: rssAfter,
      workerPeakRssMb: Math.max(rssAfter, parkUsage.worker?.peakRssMb ?? NaN),
      latencyBeside: percentiles(beside.durations),
      latencyRatio: results.latency.rotation.median / percentiles(beside.durations).median,
      usage: parkUsage,
    };
    await parking.stop();

    // What parsing the inventory costs: the worker does it at start and whenever the file's text changed.
    const inventoryText = readFileSync(main.inventoryPath, 'utf8');
    loadInventory(inventoryText);
    const parsing = await pool(5, 1, async () => void loadInventory(inventoryText));
    results.inventory = { credentials: main.inventory, parseMs: percentiles(parsing.durations).median };

    // What verifying the whole audit log costs: the worker does it at start, when the file changed under it,
    // and `rotator audit verify` does it.
    const auditAt = performance.now();
    const audit = await verifyAuditLog(world.auditLog('growth'), testAuditTrust(world.auditLog('growth')));
    results.audit = {
      entries: audit.ok ? audit.entries : NaN,
      verifySeconds: (performance.now() - auditAt) / 1000,
    };

    // 5: schedules sync of many credentials, then a second sync that should write nothing.
    log(`scale: schedules sync of ${o.schedules} credentials, twice`);
    const env = {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_TASK_QUEUE: `bench-schedules-${randomUUID()}`,
      ROTATOR_INVENTORY: world.writePaperInventory(o.schedules),
    };
    const sync = async () => {
      let stdout = '';
      const at = performance.now();
      const code = await runCli(
        ['schedules', 'sync', '--json'],
        { stdout: (t) => (stdout += t), stderr: log },
        env,
      );
      const seconds = (performance.now() - at) / 1000;
      if (code !== 0) throw new Error(`schedules sync exited ${code}`);
      const report = JSON.parse(stdout) as Record<'created' | 'updated' | 'deleted' | 'unchanged', string[]>;
      return {
        seconds,
        writes: report.created.length + report.updated.length + report.deleted.length,
        unchanged: report.unchanged.length,
      };
    };
    results.schedules = { credentials: o.schedules, first: await sync(), second: await sync() };
  } finally {
    await harness.close();
  }

  const done = results as BenchResults;
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(done, null, 2)}\n`);
  process.stdout.write(`\n${renderTable(done)}\nJSON: ${o.out}\n`);
});
