import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The dev servers' executables, as ensure-servers.sh finds or builds them. */
export interface ServerBinaries {
  temporalCli: string;
  vault: string;
  /** The machine-wide cache: built servers in `bin/`, build and test logs in `logs/`. */
  cacheDir: string;
}

/**
 * ensure-servers.sh sits beside this file in the sources; compiled code in `dist/src/embedded/` finds it in
 * the checkout's `src/embedded/`, since tsc copies no shell scripts.
 */
const SCRIPT_CANDIDATES = [
  join(__dirname, 'ensure-servers.sh'),
  join(__dirname, '../../../src/embedded/ensure-servers.sh'),
];

function cacheDir(env: NodeJS.ProcessEnv): string {
  return env.ROTATOR_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cred-rotator');
}

function executable(variable: string, path: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${variable}=${path} is not an executable file`);
  }
  return path;
}

/**
 * Finds the Temporal CLI and Vault dev servers, building them from the Go module proxy the first time
 * (minutes; progress on stderr). TEMPORAL_CLI_PATH and VAULT_BIN name servers you already have: with both
 * set nothing is built, and no checkout is needed (as in an image without the build script).
 */
export function findServerBinaries(env: NodeJS.ProcessEnv = process.env): ServerBinaries {
  if (env.TEMPORAL_CLI_PATH && env.VAULT_BIN) {
    return {
      temporalCli: executable('TEMPORAL_CLI_PATH', env.TEMPORAL_CLI_PATH),
      vault: executable('VAULT_BIN', env.VAULT_BIN),
      cacheDir: cacheDir(env),
    };
  }
  const { TEMPORAL_CLI_PATH, VAULT_BIN, CACHE_DIR } = runEnsureServers(
    [],
    ['TEMPORAL_CLI_PATH', 'VAULT_BIN', 'CACHE_DIR'],
    env,
  );
  return { temporalCli: TEMPORAL_CLI_PATH, vault: VAULT_BIN, cacheDir: CACHE_DIR };
}

/**
 * Finds moto's server, the Secrets Manager API the AWS store's tests talk to, installing it from PyPI into
 * a virtual environment the first time (about half a minute). MOTO_SERVER names one you already have.
 */
export function findMotoServer(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MOTO_SERVER) return executable('MOTO_SERVER', env.MOTO_SERVER);
  return runEnsureServers(['moto'], ['MOTO_SERVER'], env).MOTO_SERVER;
}

/** What the production topology (`npm run topology`) runs besides the dev servers' binaries. */
export interface TopologyBinaries extends ServerBinaries {
  /** `go.temporal.io/server/cmd/server`: the Temporal server itself, not the CLI's dev server. */
  temporalServer: string;
  /** `go.temporal.io/server/cmd/tools/sql`, which creates and upgrades its PostgreSQL schemas. */
  temporalSqlTool: string;
  /** A copy of the module's `schema/postgresql/v12`, with the `temporal` and `visibility` schema folders. */
  schemaDir: string;
}

/** The dev servers' binaries and the Temporal server with its SQL tool, built like them the first time. */
export function findTopologyBinaries(env: NodeJS.ProcessEnv = process.env): TopologyBinaries {
  const values = runEnsureServers(
    ['--topology'],
    [
      'TEMPORAL_CLI_PATH',
      'VAULT_BIN',
      'CACHE_DIR',
      'TEMPORAL_SERVER_BIN',
      'TEMPORAL_SQL_TOOL',
      'TEMPORAL_SERVER_SCHEMA_DIR',
    ],
    env,
  );
  return {
    temporalCli: values.TEMPORAL_CLI_PATH,
    vault: values.VAULT_BIN,
    cacheDir: values.CACHE_DIR,
    temporalServer: values.TEMPORAL_SERVER_BIN,
    temporalSqlTool: values.TEMPORAL_SQL_TOOL,
    schemaDir: values.TEMPORAL_SERVER_SCHEMA_DIR,
  };
}

/** Runs ensure-servers.sh and returns the `NAME=value` lines it prints, each of `names` among them. */
function runEnsureServers<Name extends string>(
  args: string[],
  names: Name[],
  env: NodeJS.ProcessEnv,
): Record<Name, string> {
  const script = SCRIPT_CANDIDATES.find((path) => existsSync(path));
  if (script === undefined) {
    throw new Error(
      'cannot find src/embedded/ensure-servers.sh to build the dev servers: run from a checkout, or set ' +
        'TEMPORAL_CLI_PATH and VAULT_BIN (or TEMPORAL_ADDRESS and VAULT_ADDR for servers already running)',
    );
  }
  // stderr is inherited so that a cold build's progress shows.
  const printed = execFileSync('bash', [script, ...args], {
    encoding: 'utf8',
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const values: Record<string, string | undefined> = Object.fromEntries(
    printed
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  );
  const missing = names.filter((name) => !values[name]);
  if (missing.length > 0) throw new Error(`ensure-servers.sh printed no ${missing.join(', ')}:\n${printed}`);
  return values as Record<Name, string>;
}
