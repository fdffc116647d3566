import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { WorkerEnvironment } from '../config/environment';
import type { Inventory } from '../inventory/schema';
import type { Logger } from '../logging';
import { findServerBinaries, type ServerBinaries } from './binaries';
import { startEmbeddedTemporal } from './temporal';
import { enableKvV2, inventoryMounts, startVaultDevServer } from './vault';

/** The Temporal and Vault the worker uses: the ones its environment names, or dev servers it started. */
export interface Servers {
  temporalAddress: string;
  vault: { address: string; token: string; caCert?: string };
  /** With the embedded Vault: enables a KV v2 engine at every mount an inventory names, and returns them. */
  prepareVault?(inventory: Inventory): Promise<string[]>;
  /** Stops the dev servers the worker started; call it after the worker itself has stopped. */
  stop(): Promise<void>;
}

/**
 * Connects the worker to the servers TEMPORAL_ADDRESS and VAULT_ADDR name, and starts the dev servers the
 * project builds for the ones left unset: Temporal with its SQLite file under ROTATOR_DATA_DIR (a restart
 * keeps every workflow), Vault in memory with a KV v2 engine at each mount the inventory names.
 */
export async function startServers(
  env: WorkerEnvironment,
  inventory: Inventory,
  logger: Logger,
): Promise<Servers> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step();
  };
  const dataDir = resolve(env.embedded.dataDir);
  let found: ServerBinaries | undefined;
  // Looked for (or built) only when a server is embedded: a deployment needs neither Go nor the build script.
  const binaries = () => {
    mkdirSync(dataDir, { recursive: true });
    return (found ??= findServerBinaries());
  };
  try {
    let temporalAddress = env.temporal.address;
    if (temporalAddress === undefined) {
      const temporal = await startEmbeddedTemporal({
        bin: binaries().temporalCli,
        dataDir,
        port: env.embedded.temporalPort,
        uiPort: env.embedded.uiPort,
        namespace: env.temporal.namespace,
      });
      stops.push(temporal.stop);
      temporalAddress = temporal.address;
      logger.info(
        { temporal: temporal.address, ui: temporal.uiUrl, db: temporal.dbFile, log: temporal.logFile },
        `TEMPORAL_ADDRESS is unset: started the Temporal dev server; its Web UI is on ${temporal.uiUrl}`,
      );
    }

    if (env.vault !== undefined) {
      const { address, caCertFile, auth } = env.vault;
      if (auth.method !== 'token') {
        throw new Error('Vault AppRole login is not supported yet: set VAULT_TOKEN instead of VAULT_ROLE_ID');
      }
      const caCert = caCertFile === undefined ? undefined : await readFile(caCertFile, 'utf8');
      return {
        temporalAddress,
        vault: { address, token: auth.token, caCert },
        stop,
      };
    }

    const vault = await startVaultDevServer(binaries().vault, dataDir, { detached: true });
    stops.push(vault.stop);
    const root = { endpoint: vault.endpoint, rootToken: vault.rootToken };
    const prepareVault = async (next: Inventory) => {
      const mounts = inventoryMounts(next);
      for (const mount of mounts) await enableKvV2(root, mount);
      return mounts;
    };
    const mounts = await prepareVault(inventory);
    // Loud on purpose: someone who forgot VAULT_ADDR must not take this for their Vault.
    logger.warn(
      { vault: vault.endpoint, mounts, log: vault.logFile },
      'VAULT_ADDR IS UNSET: STARTED A VAULT DEV SERVER IN MEMORY. EVERY SECRET IN IT, ROTATED TOKENS ' +
        'INCLUDED, VANISHES WHEN THE WORKER STOPS. Set VAULT_ADDR and VAULT_TOKEN to use a real Vault.',
    );
    return {
      temporalAddress,
      vault: { address: vault.endpoint, token: vault.rootToken },
      prepareVault,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
