import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { NativeConnection, Runtime, Worker, type LogLevel, type TLSConfig } from '@temporalio/worker';
import { createActivities } from '../activities';
import { FileAuditSink, type AuditSink } from './audit';
import { readWorkerEnvironment, type WorkerEnvironment } from './config/environment';
import { startHealthServer, temporalCheck, vaultCheck } from './health';
import { InventoryWatcher } from './inventory/watch';
import { createLogger, temporalLogger, type Logger } from './logging';
import { CredentialFreshness } from './metrics';
import { VaultKvStore, type SecretStore } from './vault';
import { WORKFLOWS_PATH, WORKFLOW_BUNDLE_PATH, WORKFLOW_INTERCEPTOR_MODULES } from './workflow-bundle';
import { METRICS, STEP_DURATION_BUCKETS } from './workflow-metrics';

export interface RotationWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  vault: SecretStore;
  /** The inventory (`rotator.yaml`); without `inventory`, read anew at the start of each rotation. */
  inventoryPath: string;
  /** The last good inventory, reloaded when the file changes; the worker process passes one. */
  inventory?: Pick<InventoryWatcher, 'current' | 'reload'>;
  /** Where the activities record each rotation's lifecycle events. */
  audit: AuditSink;
  /** How long in-flight activities may run on after shutdown is requested, before they are cancelled. */
  shutdownGraceMs?: number;
}

/** After the grace time, cancelled activities get this long to stop before the worker gives up on them. */
const FORCE_AFTER_GRACE_MS = 10_000;

/** The worker that runs rotation workflows and their activities; tests build it the same way. */
export function createRotationWorker({
  connection,
  namespace,
  taskQueue,
  vault,
  inventoryPath,
  inventory,
  audit,
  shutdownGraceMs,
}: RotationWorkerOptions) {
  // The prebuilt bundle exists only beside compiled code (`npm run build`); from sources, bundle at start.
  const workflowCode = existsSync(WORKFLOW_BUNDLE_PATH)
    ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }
    : { workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } };
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    ...workflowCode,
    activities: createActivities({ vault, inventoryPath, inventory, audit }),
    ...(shutdownGraceMs === undefined
      ? {}
      : { shutdownGraceTime: shutdownGraceMs, shutdownForceTime: shutdownGraceMs + FORCE_AFTER_GRACE_MS }),
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

/** Runs until SIGINT or SIGTERM, then lets in-flight activities finish within the grace time. */
async function runWorker(env: WorkerEnvironment, logger: Logger): Promise<void> {
  if (env.vault.auth.method !== 'token') {
    throw new Error('Vault AppRole login is not supported yet: set VAULT_TOKEN instead of VAULT_ROLE_ID');
  }
  const level = env.logLevel.toUpperCase() as LogLevel;
  Runtime.install({
    logger: temporalLogger(logger),
    // The Runtime shuts every worker down on these; SIGHUP is left for the inventory reload.
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions: {
      logging: { filter: { core: level, other: 'WARN' }, forward: {} },
      metrics: {
        prometheus: {
          bindAddress: `0.0.0.0:${env.metricsPort}`,
          histogramBucketOverrides: { [METRICS.stepDuration]: STEP_DURATION_BUCKETS },
        },
      },
    },
  });
  const inventory = await InventoryWatcher.open(env.inventory, logger);
  inventory.watch();
  process.on('SIGHUP', () => void inventory.reload('SIGHUP'));

  const caCert =
    env.vault.caCertFile === undefined ? undefined : await readFile(env.vault.caCertFile, 'utf8');
  const connection = await NativeConnection.connect({
    address: env.temporal.address,
    tls: await temporalTls(env.temporal.tls),
  });
  const worker = await createRotationWorker({
    connection,
    namespace: env.temporal.namespace,
    taskQueue: env.temporal.taskQueue,
    vault: new VaultKvStore({ endpoint: env.vault.address, token: env.vault.auth.token, caCert }),
    inventoryPath: env.inventory,
    inventory,
    audit: new FileAuditSink(env.auditLog),
    shutdownGraceMs: env.shutdownGraceMs,
  });
  const vault = { address: env.vault.address, caCert };
  const freshness = new CredentialFreshness(
    Runtime.instance().metricMeter,
    () => inventory.current(),
    { ...vault, token: env.vault.auth.token },
    logger,
  );
  inventory.on('reloaded', () => void freshness.refresh());
  const health = await startHealthServer({
    port: env.healthPort,
    checks: [temporalCheck(worker, connection), vaultCheck(vault)],
    logger,
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () =>
      logger.info(
        { signal, graceMs: env.shutdownGraceMs },
        'shutting down: no new tasks; in-flight activities finish within the grace time',
      ),
    );
  }
  freshness.start();
  logger.info(
    {
      temporal: env.temporal.address,
      namespace: env.temporal.namespace,
      taskQueue: env.temporal.taskQueue,
      vault: env.vault.address,
      inventory: env.inventory,
      workflowBundle: existsSync(WORKFLOW_BUNDLE_PATH) ? WORKFLOW_BUNDLE_PATH : 'bundled at start',
      healthPort: health.port,
      metricsPort: env.metricsPort,
    },
    'worker started',
  );
  try {
    await worker.run();
  } finally {
    freshness.stop();
    inventory.close();
    await health.close();
    await connection.close();
  }
  logger.info('worker stopped');
}

if (require.main === module) {
  let env: WorkerEnvironment;
  try {
    env = readWorkerEnvironment(process.env);
  } catch (error) {
    // No logger yet: LOG_LEVEL itself may be what is wrong.
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
  const logger = createLogger(env.logLevel);
  runWorker(env, logger).then(
    // The native runtime can keep the event loop alive after the worker has stopped.
    () => process.exit(0),
    (error: unknown) => {
      logger.fatal({ error }, error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
