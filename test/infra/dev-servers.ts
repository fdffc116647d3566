import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ROTATION_SEARCH_ATTRIBUTES } from '../../src/search-attributes';

// Shared with the worker's embedded servers (src/embedded/), which pick Vault's port the same way.
export { freeLoopbackPort } from '../../src/embedded/processes';

const KEPT_RUN_LOGS = 20;

/**
 * A folder of its own for one run's server logs, so that parallel runs never share a file. The
 * cache is machine-wide and outlives clones, so only the newest runs' folders are kept.
 */
export function createRunLogDir(cacheDir: string): string {
  const logs = join(cacheDir, 'logs');
  const dir = join(logs, `test-run-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  // The Vault dev server's log prints its root token: the folder is for this user only.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const runs = readdirSync(logs)
    .filter((name) => name.startsWith('test-run-'))
    .sort();
  for (const old of runs.slice(0, -KEPT_RUN_LOGS)) rmSync(join(logs, old), { recursive: true, force: true });
  return dir;
}

export interface TemporalDevServer {
  env: TestWorkflowEnvironment;
  address: string;
  version: string;
  logFile: string;
}

/**
 * Starts the Temporal CLI dev server through @temporalio/testing. The SDK gives the process no log
 * file, so it runs a wrapper that execs the server with its output appended to one; `exec` keeps
 * the PID, so the SDK's SIGKILL at teardown reaches the server itself.
 */
export async function startTemporalDevServer(bin: string, logDir: string): Promise<TemporalDevServer> {
  const logFile = join(logDir, 'temporal.log');
  const wrapper = join(logDir, 'temporal-with-log');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${shellQuote(bin)} "$@" >>${shellQuote(logFile)} 2>&1\n`);
  chmodSync(wrapper, 0o755);
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  try {
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: wrapper },
        ip: '127.0.0.1',
        searchAttributes: ROTATION_SEARCH_ATTRIBUTES,
      },
    });
    return { env, address: env.address, version, logFile };
  } catch (error) {
    throw new Error(
      `The Temporal dev server (${bin}) did not start: ${(error as Error).message}. Its log: ${logFile}`,
      { cause: error },
    );
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
