// `npm run chaos [-- --rotations N ...]`: checks the flags, then runs chaos/chaos.run.ts through jest (whose
// global setup starts Vault; the run starts its own Temporal so that it can restart it), passing CHAOS_OPTIONS.
// `npm run chaos -- --topology production [...]` runs chaos/topology.ts on the production topology instead.
import { join } from 'node:path';
import process from 'node:process';
import { runOnTopology, runWithFlags } from '../bench/flags-to-jest.mjs';

const HERE = import.meta.dirname;

if (process.argv.includes('--topology')) {
  runOnTopology('chaos/topology.ts');
} else {
  runWithFlags({
    config: join(HERE, 'jest.config.mjs'),
    variable: 'CHAOS_OPTIONS',
    defaults: {
      credentials: 50,
      rotations: 500,
      concurrency: 20,
      kills: 5,
      vaultOutageSeconds: 30,
      awsShare: 20,
      awsOutageSeconds: 30,
      minutes: 15,
      seed: 1,
      out: join(HERE, 'results/latest.json'),
    },
    most: { awsShare: 100 },
    usage: `usage: npm run chaos -- [--credentials N] [--rotations N] [--concurrency N] [--kills N]
                         [--vault-outage-seconds N] [--aws-share PERCENT] [--aws-outage-seconds N]
                         [--minutes N] [--seed N] [--out FILE]
       npm run chaos -- --topology production [--credentials N<=4] [--rotations N] [--concurrency N]
                         [--vault-sealed-seconds N] [--dir DIR] [--out FILE]`,
  });
}
