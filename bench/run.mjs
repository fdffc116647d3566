// `npm run bench [-- --rotations N ...]`: checks the flags, then runs bench/rotation.bench.ts through jest
// (whose global setup starts the real Temporal and Vault dev servers), passing the sizes in BENCH_OPTIONS.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import process from 'node:process';

const HERE = import.meta.dirname;

const DEFAULTS = {
  rotations: 200,
  concurrency: 50,
  latencySamples: 20,
  growth: [10, 100, 300],
  parked: 500,
  schedules: 2000,
  out: join(HERE, 'results/latest.json'),
};
const USAGE = `usage: npm run bench -- [--rotations N] [--concurrency N] [--latency-samples N] [--growth N,N,...]
                         [--parked N] [--schedules N] [--out FILE]
defaults: ${JSON.stringify(DEFAULTS)}`;

function parse(argv) {
  const options = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const name = (flag ?? '').replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    if (flag === '--help' || !(name in DEFAULTS) || value === undefined) {
      throw new Error(flag === '--help' ? USAGE : `unknown flag or missing value: ${flag}\n${USAGE}`);
    }
    if (name === 'out') options.out = value;
    else if (name === 'growth') options.growth = value.split(',').map(count(flag));
    else options[name] = count(flag)(value);
  }
  return options;
}

function count(flag) {
  return (text) => {
    if (!/^\d+$/.test(text)) throw new Error(`${flag}: expected a whole number, got ${text}\n${USAGE}`);
    return Number(text);
  };
}

let options;
try {
  options = parse(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(error.message === USAGE ? 0 : 2);
}
const jest = join(HERE, '../node_modules/jest/bin/jest.js');
const run = spawnSync(process.execPath, [jest, '-c', join(HERE, 'jest.config.mjs'), '--runInBand'], {
  stdio: 'inherit',
  env: { ...process.env, BENCH_OPTIONS: JSON.stringify(options) },
});
process.exit(run.status ?? 1);
