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
  return serverBinariesOf(ensureServers([], env));
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
  const values = ensureServers(['--topology'], env);
  const { TEMPORAL_SERVER_BIN, TEMPORAL_SQL_TOOL, TEMPORAL_SERVER_SCHEMA_DIR } = values;
  if (!TEMPORAL_SERVER_BIN || !TEMPORAL_SQL_TOOL || !TEMPORAL_SERVER_SCHEMA_DIR)
    throw new Error('ensure-servers.sh --topology printed no paths for the Temporal server');
  return {
    ...serverBinariesOf(values),
    temporalServer: TEMPORAL_SERVER_BIN,
    temporalSqlTool: TEMPORAL_SQL_TOOL,
    schemaDir: TEMPORAL_SERVER_SCHEMA_DIR,
  };
}

/** Runs ensure-servers.sh and returns the `NAME=value` lines it printed. */
function ensureServers(args: string[], env: NodeJS.ProcessEnv): Record<string, string | undefined> {
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
  return Object.fromEntries(
    printed
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  );
}

function serverBinariesOf(values: Record<string, string | undefined>): ServerBinaries {
  const { TEMPORAL_CLI_PATH, VAULT_BIN, CACHE_DIR } = values;
  if (!TEMPORAL_CLI_PATH || !VAULT_BIN || !CACHE_DIR) {
    const printed = Object.entries(values).map(([name, value]) => `${name}=${value}`);
    throw new Error(`ensure-servers.sh printed no paths for both servers:\n${printed.join('\n')}`);
  }
  return { temporalCli: TEMPORAL_CLI_PATH, vault: VAULT_BIN, cacheDir: CACHE_DIR };
}
