import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import createVaultClient from 'node-vault';
import { ROTATION_SEARCH_ATTRIBUTES } from '../../src/search-attributes';

/** Paths printed by ensure-servers.sh, which finds or builds both servers. */
export interface ServerBinaries {
  temporalCli: string;
  vault: string;
  cacheDir: string;
}

export function ensureServerBinaries(): ServerBinaries {
  const script = join(__dirname, 'ensure-servers.sh');
  // stderr is inherited so that a cold build's progress shows in the test output.
  const printed = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const values = Object.fromEntries(
    printed
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  );
  const { TEMPORAL_CLI_PATH, VAULT_BIN, CACHE_DIR } = values;
  if (!TEMPORAL_CLI_PATH || !VAULT_BIN || !CACHE_DIR) {
    throw new Error(`ensure-servers.sh printed no paths for both servers:\n${printed}`);
  }
  return { temporalCli: TEMPORAL_CLI_PATH, vault: VAULT_BIN, cacheDir: CACHE_DIR };
}

const KEPT_RUN_LOGS = 20;

/**
 * A folder of its own for one run's server logs, so that parallel runs never share a file. The
 * cache is machine-wide and outlives clones, so only the newest runs' folders are kept.
 */
export function createRunLogDir(cacheDir: string): string {
  const logs = join(cacheDir, 'logs');
  const dir = join(logs, `test-run-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const runs = readdirSync(logs)
    .filter((name) => name.startsWith('test-run-'))
    .sort();
  for (const old of runs.slice(0, -KEPT_RUN_LOGS)) rmSync(join(logs, old), { recursive: true, force: true });
  return dir;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

export interface VaultDevServer {
  endpoint: string;
  rootToken: string;
  version: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts `vault server -dev` on a free loopback port and waits until it answers as unsealed. */
export async function startVaultDevServer(bin: string, logDir: string): Promise<VaultDevServer> {
  const port = await freeLoopbackPort();
  const rootToken = `root-${randomBytes(12).toString('hex')}`;
  const logFile = join(logDir, 'vault.log');
  const log = openSync(logFile, 'a');
  const child = spawn(
    bin,
    ['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', log, log], env: { ...process.env, VAULT_DISABLE_MLOCK: 'true' } },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () => stopProcess(child);
  try {
    const version = await waitForVault(endpoint, child);
    return { endpoint, rootToken, version, logFile, stop };
  } catch (error) {
    await stop();
    throw new Error(
      `The Vault dev server (${bin}) did not start: ${(error as Error).message}. Its log: ${logFile}`,
      { cause: error },
    );
  }
}

async function waitForVault(endpoint: string, child: ChildProcess): Promise<string> {
  const deadline = Date.now() + 30_000;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`it exited (${child.exitCode ?? child.signalCode})`);
    }
    try {
      const response = await fetch(`${endpoint}/v1/sys/health`);
      const health = (await response.json()) as { sealed?: boolean; version?: string };
      if (response.ok && health.sealed === false && health.version) return health.version;
      lastProblem = `health answered HTTP ${response.status}`;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`it was not ready within 30s (${lastProblem})`);
}

/** Mounts a KV v2 engine and waits until it accepts requests (a new mount upgrades itself first). */
export async function enableKvV2(
  vault: { endpoint: string; rootToken: string },
  mount: string,
): Promise<void> {
  const client = createVaultClient({ endpoint: vault.endpoint, token: vault.rootToken });
  await client.mount({ mount_point: mount, type: 'kv', options: { version: '2' } });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await client.read(`${mount}/config`);
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`KV v2 mount ${mount} never became ready: ${(error as Error).message}`, {
          cause: error,
        });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
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

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
