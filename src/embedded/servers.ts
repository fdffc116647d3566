import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { randomCodecServerToken, startCodecServer, type CodecKeys } from '../codec';
import type { WorkerEnvironment } from '../config/environment';
import type { Inventory } from '../inventory/schema';
import type { Logger } from '../logging';
import { fixedToken, type VaultTokenSource } from '../vault';
import { AppRoleSession } from '../vault-auth';
import { findServerBinaries, type ServerBinaries } from './binaries';
import { assertPortFree } from './processes';
import { startEmbeddedTemporal } from './temporal';
import { enableKvV2, inventoryMounts, startVaultDevServer } from './vault';

/** The Temporal and Vault the worker uses: the ones its environment names, or dev servers it started. */
export interface Servers {
  temporalAddress: string;
  /** `token` gives the current token before each call: an AppRole session replaces it as it goes. */
  vault: { address: string; token: VaultTokenSource; caCert?: string };
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
  codecKeys?: CodecKeys,
): Promise<Servers> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step();
  };
  const dataDir = resolve(env.embedded.dataDir);
  let found: ServerBinaries | undefined;
  // Looked for (or built) only when a server is embedded: a deployment needs neither Go nor the build script.
  const binaries = () => {
    // Its logs and Temporal's SQLite file are for this user only.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return (found ??= findServerBinaries());
  };
  try {
    let temporalAddress = env.temporal.address;
    if (temporalAddress === undefined) {
      // With codec keys, the dev server's Web UI decodes payloads through a codec server only it knows the
      // token of: the token is part of the endpoint in the UI's configuration, and logged nowhere.
      let uiCodecEndpoint: string | undefined;
      if (codecKeys !== undefined) {
        const token = randomCodecServerToken();
        const uiPort = env.embedded.uiPort;
        await assertPortFree(
          env.embedded.codecServerPort,
          'the payload codec server (ROTATOR_CODEC_SERVER_PORT)',
        );
        const codecServer = await startCodecServer({
          keys: codecKeys,
          token,
          uiOrigins: [`http://localhost:${uiPort}`, `http://127.0.0.1:${uiPort}`],
          host: '127.0.0.1',
          port: env.embedded.codecServerPort,
        });
        stops.push(codecServer.close);
        uiCodecEndpoint = `${codecServer.url}/${token}`;
        logger.info(
          { codecServer: codecServer.url },
          `payload codec server for the Web UI on ${codecServer.url} (its token is in the Web UI's configuration)`,
        );
      }
      const temporal = await startEmbeddedTemporal({
        bin: binaries().temporalCli,
        dataDir,
        port: env.embedded.temporalPort,
        uiPort: env.embedded.uiPort,
        namespace: env.temporal.namespace,
        uiCodecEndpoint,
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
      const caCert = caCertFile === undefined ? undefined : await readFile(caCertFile, 'utf8');
      const token =
        auth.method === 'token'
          ? fixedToken(auth.token)
          : await AppRoleSession.start(
              { endpoint: address, caCert, roleId: auth.roleId, secretIdFile: auth.secretIdFile },
              logger,
            );
      if (token instanceof AppRoleSession) stops.push(() => token.close());
      return {
        temporalAddress,
        vault: { address, token, caCert },
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
      vault: { address: vault.endpoint, token: fixedToken(vault.rootToken) },
      prepareVault,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
