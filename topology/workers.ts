import { join } from 'node:path';
import { WORKER_PROCESS_ENVIRONMENT } from '../src/config/environment';
import type { CertPair } from './certificates';
import { privateDir } from './files';
import { freePort, startService, waitFor, type Service } from './process';

export interface WorkerProcess {
  name: string;
  healthPort: number;
  metricsPort: number;
  auditLog: string;
  service: Service;
}

/** What every worker shares; each gets its own certificate, secret id, ports, log and audit log. */
export interface WorkerSettings {
  dir: string;
  temporal: { address: string; namespace: string; caFile: string };
  vault: { address: string; caFile: string; roleId: string };
  inventoryFile: string;
  codecKeysFile: string;
}

/** Ready (/readyz) once it bundled its workflows, logged in to Vault and polls Temporal: about 20 s each. */
const READY_TIMEOUT_MS = 180_000;
/** The worker's own grace for in-flight activities; stopping it waits that long and then some. */
const SHUTDOWN_GRACE = '10s';
const STOP_GRACE_MS = 25_000;
const WORKER_ENTRY = join(__dirname, '../src/worker.js');

/**
 * Starts one worker process per certificate, each configured only through its environment as in production:
 * Temporal over mTLS, Vault over TLS with AppRole (no token in its environment), payloads encrypted with the
 * codec keys. They start at once and are ready when every one answers /readyz.
 */
export async function startWorkers(
  settings: WorkerSettings,
  workers: { cert: CertPair; secretIdFile: string }[],
): Promise<WorkerProcess[]> {
  const started = await Promise.all(
    workers.map(async ({ cert, secretIdFile }, index) => {
      const name = `worker-${index + 1}`;
      const dir = privateDir(join(settings.dir, name));
      const healthPort = await freePort();
      const metricsPort = await freePort();
      const auditLog = join(dir, 'audit.jsonl');
      const service = startService(name, process.execPath, [WORKER_ENTRY], join(dir, 'worker.log'), {
        graceMs: STOP_GRACE_MS,
        cwd: dir,
        env: {
          ...WORKER_PROCESS_ENVIRONMENT,
          TEMPORAL_ADDRESS: settings.temporal.address,
          TEMPORAL_NAMESPACE: settings.temporal.namespace,
          TEMPORAL_TLS_CA: settings.temporal.caFile,
          TEMPORAL_TLS_CERT: cert.certFile,
          TEMPORAL_TLS_KEY: cert.keyFile,
          // As connectTemporal: the certificate names both, and TLS's server name is no IP address.
          TEMPORAL_TLS_SERVER_NAME: 'localhost',
          VAULT_ADDR: settings.vault.address,
          VAULT_CACERT: settings.vault.caFile,
          VAULT_ROLE_ID: settings.vault.roleId,
          VAULT_SECRET_ID_FILE: secretIdFile,
          ROTATOR_INVENTORY: settings.inventoryFile,
          ROTATOR_AUDIT_LOG: auditLog,
          ROTATOR_DATA_DIR: dir,
          ROTATOR_CODEC_KEYS_FILE: settings.codecKeysFile,
          ROTATOR_SHUTDOWN_GRACE: SHUTDOWN_GRACE,
          METRICS_PORT: String(metricsPort),
          ROTATOR_HEALTH_PORT: String(healthPort),
        },
      });
      return { name, healthPort, metricsPort, auditLog, service };
    }),
  );
  try {
    await Promise.all(
      started.map((worker) =>
        waitFor(
          worker.service,
          async () => ((await fetch(`http://127.0.0.1:${worker.healthPort}/readyz`)).ok ? true : undefined),
          READY_TIMEOUT_MS,
        ),
      ),
    );
  } catch (error) {
    await Promise.all(started.map((worker) => worker.service.stop()));
    throw error;
  }
  return started;
}
