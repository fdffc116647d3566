import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildWorker } from '../test/helpers/worker-process';
import { fleetId, fleetInventoryYaml } from '../test/helpers/fleet-inventory';
import { testServers } from '../test/infra/test-servers';
import { log } from './harness';

interface InventoryBenchOptions {
  inventory: number;
  out: string;
}
const options = JSON.parse(process.env.BENCH_INVENTORY_OPTIONS ?? 'null') as InventoryBenchOptions | null;

/** Runs `node args` in a process of its own under /usr/bin/time: its stdout, wall seconds and peak RSS. */
function timed(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ stdout: string; seconds: number; peakRssMb: number }>((resolve, reject) => {
    execFile(
      '/usr/bin/time',
      ['-f', 'TIMED %e %M', process.execPath, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const match = /TIMED ([\d.]+) (\d+)/.exec(stderr);
        if (error !== null || match === null) reject(new Error(`${args.join(' ')}: ${stderr.slice(-2000)}`));
        else resolve({ stdout, seconds: Number(match[1]), peakRssMb: Number(match[2]) / 1024 });
      },
    );
  });
}

/**
 * The worker's side, in a child process: the inventory watcher opens the file (the worker's start), the file
 * changes by one line and the watcher reloads it, then a rotation's `load` reads it and builds the plan of the
 * changed credential, and once more with the file unchanged. Times in seconds, RSS in MB.
 */
const WORKER_CHILD = `
const [build, path, changed] = process.argv.slice(1);
const { readFileSync, writeFileSync } = require('node:fs');
const { InventoryWatcher, inventoryReader } = require(build + '/src/inventory/watch.js');
const { rotationPlan } = require(build + '/src/inventory/plan.js');
const { allKinds } = require(build + '/src/kinds/index.js');
const { createLogger } = require(build + '/src/logging.js');
const memory = () => ({ rssMb: process.memoryUsage().rss / 2 ** 20, peakRssMb: process.resourceUsage().maxRSS / 1024 });
const since = (at) => (performance.now() - at) / 1000;
(async () => {
  const logger = createLogger('warn', process.stderr);
  let at = performance.now();
  const watcher = await InventoryWatcher.open(path, logger);
  const open = { seconds: since(at), ...memory() };
  const text = readFileSync(path, 'utf8');
  const line = '- id: ' + changed + '\\n    description: Deploys';
  writeFileSync(path, text.replace(line, line + ' (changed)'));
  at = performance.now();
  const applied = await watcher.reload('bench');
  const reload = { seconds: since(at), applied, ...memory() };
  const read = inventoryReader(path, watcher);
  const load = async () => {
    const at = performance.now();
    const result = await read();
    rotationPlan(result.inventory, changed, allKinds);
    return { seconds: since(at), ...memory() };
  };
  const firstLoad = await load();
  const unchangedLoad = await load();
  process.stdout.write(JSON.stringify({ open, reload, firstLoad, unchangedLoad }));
  process.exit(0);
})();
`;

(options === null ? test.skip : test)('inventory at fleet scale', async () => {
  const o = options as InventoryBenchOptions;
  const servers = testServers();
  log('compiling the CLI and the worker');
  const build = buildWorker();
  const dir = mkdtempSync(join(tmpdir(), 'rotator-fleet-'));
  try {
    const path = join(dir, 'rotator.yaml');
    const text = fleetInventoryYaml(o.inventory);
    writeFileSync(path, text);
    const cli = join(build.dir, 'src/cli.js');
    const results: Record<string, unknown> = {
      credentials: o.inventory,
      bytes: Buffer.byteLength(text),
    };

    log(`config check of ${o.inventory} credentials (${(Buffer.byteLength(text) / 2 ** 20).toFixed(1)} MiB)`);
    const check = await timed([cli, 'config', 'check', path]);
    if (!check.stdout.includes(`is valid: ${o.inventory} credentials`)) throw new Error(check.stdout);
    results.configCheck = { seconds: check.seconds, peakRssMb: check.peakRssMb };

    log('worker: open, reload after a one-line change, a rotation load after it');
    const worker = await timed(['-e', WORKER_CHILD, build.dir, path, fleetId(Math.floor(o.inventory / 2))]);
    results.worker = { ...(JSON.parse(worker.stdout) as object), processPeakRssMb: worker.peakRssMb };
    writeFileSync(path, text);

    log(`schedules sync of ${o.inventory} credentials, twice`);
    const env = {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_TASK_QUEUE: `bench-fleet-${randomUUID()}`,
      ROTATOR_INVENTORY: path,
    };
    const sync = async () => {
      const run = await timed([cli, 'schedules', 'sync', '--json'], env);
      const report = JSON.parse(run.stdout) as Record<
        'created' | 'updated' | 'deleted' | 'unchanged',
        string[]
      >;
      return {
        seconds: run.seconds,
        peakRssMb: run.peakRssMb,
        writes: report.created.length + report.updated.length + report.deleted.length,
        unchanged: report.unchanged.length,
      };
    };
    results.schedules = { first: await sync(), second: await sync() };

    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\n${JSON.stringify(results, null, 2)}\nJSON: ${o.out}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    build.remove();
  }
});
