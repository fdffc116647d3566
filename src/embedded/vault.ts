import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { vaultClient } from '../vault';
import { freeLoopbackPort, hasExited, openPrivateLog, serverEnvironment, stopProcess } from './processes';

export interface VaultDevServer {
  endpoint: string;
  rootToken: string;
  version: string;
  logFile: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts `vault server -dev` (in memory, unsealed, a random root token) on a free loopback port and waits
 * until it answers as unsealed. `detached` puts it in a process group of its own, so that Ctrl-C in a
 * terminal reaches only its parent, which stops it after its own shutdown instead of in the middle of it.
 */
export async function startVaultDevServer(
  bin: string,
  logDir: string,
  options: { detached?: boolean } = {},
): Promise<VaultDevServer> {
  const port = await freeLoopbackPort();
  const rootToken = `root-${randomBytes(12).toString('hex')}`;
  const logFile = join(logDir, 'vault.log');
  const log = openPrivateLog(logFile);
  // The root token goes in the environment, which only this user can read, never on the command line,
  // which every user can (/proc/<pid>/cmdline, ps).
  const child = spawn(bin, ['server', '-dev', `-dev-listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', log, log],
    env: serverEnvironment({ VAULT_DEV_ROOT_TOKEN_ID: rootToken, VAULT_DISABLE_MLOCK: 'true' }),
    detached: options.detached ?? false,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () => stopProcess(child);
  try {
    const version = await waitForVault(endpoint, child);
    return { endpoint, rootToken, version, logFile, pid: child.pid, stop };
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
    if (hasExited(child)) throw new Error(`it exited (${child.exitCode ?? child.signalCode})`);
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

/**
 * Mounts a KV v2 engine unless the mount exists already (dev mode has `secret/`), and waits until it
 * accepts requests: a new mount upgrades itself first.
 */
export async function enableKvV2(
  vault: { endpoint: string; rootToken: string; caCert?: string },
  mount: string,
): Promise<void> {
  const client = vaultClient(vault.endpoint, vault.caCert);
  client.token = vault.rootToken;
  const mounts = (await client.mounts()) as Record<string, unknown>;
  if (!(`${mount}/` in mounts))
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

/** Every KV mount an inventory names: credentials' stores, providers' admin tokens, OAuth2 client secrets. */
export function inventoryMounts(inventory: unknown): string[] {
  const mounts = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    // Every Vault reference in the schema is an object with a mount and a path (src/vault.ts).
    if (typeof record.mount === 'string' && typeof record.path === 'string') mounts.add(record.mount);
    Object.values(record).forEach(visit);
  };
  visit(inventory);
  return [...mounts].sort();
}
