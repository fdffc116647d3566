import { readFile } from 'node:fs/promises';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type TLSConfig,
} from '@temporalio/worker';
import { createActivities } from '../activities';
import { FileAuditSink, type AuditSink } from './audit';
import { readWorkerEnvironment, type WorkerEnvironment } from './config/environment';
import { VaultKvStore, type SecretStore } from './vault';

export interface RotationWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  vault: SecretStore;
  /** The inventory (`rotator.yaml`), read anew at the start of each rotation. */
  inventoryPath: string;
  /** Where the activities record each rotation's lifecycle events. */
  audit: AuditSink;
}

/** The worker that runs rotation workflows and their activities; tests build it the same way. */
export function createRotationWorker({
  connection,
  namespace,
  taskQueue,
  vault,
  inventoryPath,
  audit,
}: RotationWorkerOptions) {
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({ vault, inventoryPath, audit }),
  });
}

async function temporalTls(tls: WorkerEnvironment['temporal']['tls']): Promise<TLSConfig | undefined> {
  if (tls === undefined) return undefined;
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: tls.caFile === undefined ? undefined : await readFile(tls.caFile),
    clientCertPair:
      tls.client === undefined
        ? undefined
        : { crt: await readFile(tls.client.certFile), key: await readFile(tls.client.keyFile) },
  };
}

async function main(): Promise<void> {
  const env = readWorkerEnvironment(process.env);
  if (env.vault.auth.method !== 'token') {
    throw new Error('Vault AppRole login is not supported yet: set VAULT_TOKEN instead of VAULT_ROLE_ID');
  }
  Runtime.install({
    logger: new DefaultLogger(env.logLevel.toUpperCase() as LogLevel),
    telemetryOptions: { metrics: { prometheus: { bindAddress: `0.0.0.0:${env.metricsPort}` } } },
  });
  const connection = await NativeConnection.connect({
    address: env.temporal.address,
    tls: await temporalTls(env.temporal.tls),
  });
  const worker = await createRotationWorker({
    connection,
    namespace: env.temporal.namespace,
    taskQueue: env.temporal.taskQueue,
    vault: new VaultKvStore({
      endpoint: env.vault.address,
      token: env.vault.auth.token,
      caCert: env.vault.caCertFile === undefined ? undefined : await readFile(env.vault.caCertFile, 'utf8'),
    }),
    inventoryPath: env.inventory,
    audit: new FileAuditSink(env.auditLog),
  });
  // Worker.run installs SIGINT/SIGTERM handlers and returns once in-flight tasks are done.
  await worker.run();
  await connection.close();
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
