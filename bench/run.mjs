// `npm run bench [-- --rotations N ...]`: checks the flags, then runs bench/rotation.bench.ts through jest
// (whose global setup starts the real Temporal and Vault dev servers), passing the sizes in BENCH_OPTIONS.
// `npm run bench -- --topology production [...]` runs bench/topology.ts on the production topology instead;
// `npm run bench -- --break-glass N [...]` runs bench/break-glass.bench.ts (alert to revocation) instead;
// `npm run bench -- --inventory N` runs bench/inventory.bench.ts (an N-credential inventory) instead.
import { join } from 'node:path';
import process from 'node:process';
import { runOnTopology, runWithFlags } from './flags-to-jest.mjs';

const HERE = import.meta.dirname;

if (process.argv.includes('--topology')) {
  runOnTopology('bench/topology.ts');
} else if (process.argv.includes('--break-glass')) {
  runWithFlags({
    config: join(HERE, 'jest.config.mjs'),
    variable: 'BENCH_BREAK_GLASS_OPTIONS',
    defaults: {
      breakGlass: 50,
      concurrency: 10,
      latencySamples: 5,
      inventories: [10, 100, 500],
      out: join(HERE, 'results/break-glass.json'),
    },
    usage: `usage: npm run bench -- --break-glass N [--concurrency N] [--latency-samples N] [--inventories N,N,...]
                         [--out FILE]`,
  });
} else if (process.argv.includes('--inventory')) {
  runWithFlags({
    config: join(HERE, 'jest.config.mjs'),
    variable: 'BENCH_INVENTORY_OPTIONS',
    defaults: { inventory: 10000, out: join(HERE, 'results/inventory.json') },
    usage: 'usage: npm run bench -- --inventory N [--out FILE]',
  });
} else {
  runWithFlags({
    config: join(HERE, 'jest.config.mjs'),
    variable: 'BENCH_OPTIONS',
    defaults: {
      rotations: 200,
      concurrency: 50,
      latencySamples: 20,
      growth: [10, 100, 300],
      workers: 2,
      workflowCache: 100,
      parked: 500,
      schedules: 2000,
      out: join(HERE, 'results/latest.json'),
    },
    usage: `usage: npm run bench -- [--rotations N] [--concurrency N] [--latency-samples N] [--growth N,N,...]
                         [--workers N] [--workflow-cache N] [--parked N] [--schedules N] [--out FILE]
       npm run bench -- --inventory N [--out FILE]
       npm run bench -- --break-glass N [--concurrency N] [--latency-samples N] [--inventories N,N,...] [--out FILE]
       npm run bench -- --topology production [--rotations N] [--latency-samples N] [--concurrency N]
                         [--dir DIR] [--out FILE]`,
  });
}
