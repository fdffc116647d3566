// Shared by `npm run bench` and `npm run chaos`: reads `--flag value` pairs over a set of defaults (whole
// numbers, at most `most[flag]` where given, comma-separated lists of them, or `--out FILE`), then runs one jest config in band with the
// options as JSON in an environment variable, and exits with jest's status. With `--topology`, both run their
// production-topology variant instead (runOnTopology).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import process from 'node:process';

export function runWithFlags({ config, variable, defaults, usage, most = {} }) {
  const help = `${usage}\ndefaults: ${JSON.stringify(defaults)}`;
  const count = (flag) => (text) => {
    if (!/^\d+$/.test(text)) throw new Error(`${flag}: expected a whole number, got ${text}\n${help}`);
    const name = flag.replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    if (name in most && Number(text) > most[name])
      throw new Error(`${flag}: at most ${most[name]}, got ${text}\n${help}`);
    return Number(text);
  };
  let options;
  try {
    options = { ...defaults };
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i += 2) {
      const [flag, value] = [argv[i], argv[i + 1]];
      const name = (flag ?? '').replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
      if (flag === '--help' || !(name in defaults) || value === undefined) {
        throw new Error(flag === '--help' ? help : `unknown flag or missing value: ${flag}\n${help}`);
      }
      if (name === 'out') options.out = value;
      else if (Array.isArray(defaults[name])) options[name] = value.split(',').map(count(flag));
      else options[name] = count(flag)(value);
    }
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(error.message === help ? 0 : 2);
  }
  const jest = join(import.meta.dirname, '../node_modules/jest/bin/jest.js');
  const run = spawnSync(process.execPath, [jest, '-c', config, '--runInBand'], {
    stdio: 'inherit',
    env: { ...process.env, [variable]: JSON.stringify(options) },
  });
  process.exit(run.status ?? 1);
}

/**
 * `--topology production`: compiles the topology's tooling (topology/tsconfig.json, which includes `script`)
 * and runs `script` from dist/ with the flags as given; it starts its own servers and needs no jest.
 */
export function runOnTopology(script) {
  const root = join(import.meta.dirname, '..');
  for (const args of [
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'topology/tsconfig.json'],
    [join(root, 'dist', script.replace(/\.ts$/, '.js')), ...process.argv.slice(2)],
  ]) {
    const run = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
  process.exit(0);
}
