import { randomBytes } from 'node:crypto';
import { newAuditKey, readAuditKey, vaultPathSetting } from '../../src/audit';
import { DEFAULT_AUDIT_KEY_PATH } from '../../src/config/environment';
import { findMotoServer, findServerBinaries } from '../../src/embedded/binaries';
import { startMotoServer, type MotoServer } from '../../src/embedded/moto';
import { enableKvV2, startVaultDevServer, type VaultDevServer } from '../../src/embedded/vault';
import { VaultKvStore, type SecretPath } from '../../src/vault';
import { createRunLogDir, startTemporalDevServer, type TemporalDevServer } from './dev-servers';
import { TEST_KV_MOUNT, exportTestServers } from './test-servers';

export interface RunningServers {
  vault?: VaultDevServer;
  temporal?: TemporalDevServer;
  moto?: MotoServer;
  runDir?: string;
}

/** Shared with global-teardown.ts: jest runs both in its main process. */
export const running: RunningServers = ((
  globalThis as { __rotatorServers?: RunningServers }
).__rotatorServers = {});

/** Starts one real Vault, one real Temporal and one moto server (Secrets Manager) for the whole test run. */
export default async function globalSetup(): Promise<void> {
  const binaries = findServerBinaries();
  // Found (or installed) before any server starts, so that a failed install leaves none running.
  const motoServer = findMotoServer();
  const logDir = createRunLogDir(binaries.cacheDir);
  running.runDir = logDir;
  running.vault = await startVaultDevServer(binaries.vault, logDir);
  await enableKvV2(running.vault, TEST_KV_MOUNT);
  // Where a worker process started with VAULT_ADDR reads it, as a production worker would.
  const auditKey = await readAuditKey(
    new VaultKvStore({ endpoint: running.vault.endpoint, token: running.vault.rootToken }),
    vaultPathSetting(DEFAULT_AUDIT_KEY_PATH) as SecretPath,
    { create: newAuditKey() },
  );
  running.temporal = await startTemporalDevServer(binaries.temporalCli, logDir);
  running.moto = await startMotoServer(motoServer, logDir);
  exportTestServers({
    temporalAddress: running.temporal.address,
    vault: { endpoint: running.vault.endpoint, token: running.vault.rootToken },
    aws: { endpoint: running.moto.endpoint },
    runDir: logDir,
    binaries: { temporalCli: binaries.temporalCli, vault: binaries.vault },
    codecKeys: `test-run:${randomBytes(32).toString('base64')}`,
    auditKey: auditKey.toString('base64'),
  });
  process.stderr.write(
    `\n[servers] Temporal: ${running.temporal.version} at ${running.temporal.address}\n` +
      `[servers] Vault: v${running.vault.version} at ${running.vault.endpoint}, KV v2 at ${TEST_KV_MOUNT}/\n` +
      `[servers] moto (AWS Secrets Manager): ${running.moto.endpoint}\n` +
      `[servers] logs: ${logDir}\n`,
  );
}
