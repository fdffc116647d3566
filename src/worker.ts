import { existsSync } from 'node:fs';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { createActivities } from '../activities';
import { SECONDS_TO_REVOCATION, SECONDS_TO_REVOCATION_BUCKETS } from './incidents/metrics';
import type { AlertSettings } from '../activities/alerts';
import { join } from 'node:path';
import {
  FileAuditSink,
  VaultAuditAnchor,
  adoptAuditHead,
  embeddedAuditKey,
  readAuditKey,
  type AuditSink,
  type AuditTrust,
} from './audit';
import { encryptedDataConverter, readCodecKeys, type CodecKeys } from './codec';
import { DEFAULT_WORKFLOW_CACHE, readWorkerEnvironment, type WorkerEnvironment } from './config/environment';
import { temporalTlsConfig } from './config/temporal-tls';
import { startServers, type Servers } from './embedded/servers';
import { startHealthServer, temporalCheck, vaultCheck } from './health';
import { InventoryWatcher } from './inventory/watch';
import { createLogger, temporalLogger, type Logger } from './logging';
import { CredentialFreshness } from './metrics';
import type { Stores } from './stores';
import { VaultKvStore, type VaultKv } from './vault';
import { WORKFLOWS_PATH, WORKFLOW_BUNDLE_PATH, WORKFLOW_INTERCEPTOR_MODULES } from './workflow-bundle';
import { METRICS, STEP_DURATION_BUCKETS } from './workflow-metrics';

export interface RotationWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  vault: VaultKv;
  /** Where credentials are kept: Vault, and the other stores with their SDKs' own credentials, by default. */
  stores?: Stores;
  /** The inventory (`rotator.yaml`); without `inventory`, read anew at the start of each rotation. */
  inventoryPath: string;
  /** The last good inventory, reloaded when the file changes; the worker process passes one. */
  inventory?: Pick<InventoryWatcher, 'current' | 'reload'>;
  /** Where the activities record each rotation's lifecycle events. */
  audit: AuditSink;
  /** Where alerts go (a webhook); without one they are logged. */
  alerts?: AlertSettings;
  /** How long in-flight activities may run on after shutdown is requested, before they are cancelled. */
  shutdownGraceMs?: number;
  /** With codec keys: `encryptedDataConverter(keys)`, so every payload Temporal stores is encrypted. */
  dataConverter?: DataConverter;
  /**
   * How many rotations stay in memory (ROTATOR_WORKFLOW_CACHE, default DEFAULT_WORKFLOW_CACHE). Rotations spend nearly all
   * their life parked in an overlap timer, approval or operator wait; one evicted costs a replay of its
   * short history when it next moves (docs/performance.md, "The workflow cache").
   */
  workflowCache?: number;
}

/** After the grace time, cancelled activities get this long to stop before the worker gives up on them. */
const FORCE_AFTER_GRACE_MS = 10_000;

/** The worker that runs rotation workflows and their activities; tests build it the same way. */
export function createRotationWorker({
  connection,
  namespace,
  taskQueue,
  vault,
  stores,
  inventoryPath,
  inventory,
  audit,
  alerts,
  shutdownGraceMs,
  dataConverter,
  workflowCache = DEFAULT_WORKFLOW_CACHE,
}: RotationWorkerOptions) {
  // The prebuilt bundle exists only beside compiled code (`npm run build`); from sources, bundle at start.
  // It has the default failure converter built in: with encryption on, the workflows are bundled at start with
  // the encrypting one, else their failures (and the activity failures they carry as causes) stay in clear.
  const prebuilt = existsSync(WORKFLOW_BUNDLE_PATH) && dataConverter?.failureConverterPath === undefined;
  const workflowCode = prebuilt
    ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } }
    : { workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } };
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    ...workflowCode,
    activities: createActivities({ vault, stores, inventoryPath, inventory, audit, alerts }),
    maxCachedWorkflows: workflowCache,
    dataConverter,
    ...(shutdownGraceMs === undefined
      ? {}
      : { shutdownGraceTime: shutdownGraceMs, shutdownForceTime: shutdownGraceMs + FORCE_AFTER_GRACE_MS }),
  });
}

/**
 * The audit chain's key and this log's anchor, in Vault; read once at start, the key is never logged. The
 * embedded Vault forgets both at stop: it gets the key kept in ROTATOR_DATA_DIR, and the log's head as anchor.
 */
export async function auditTrust(
  env: WorkerEnvironment,
  vault: VaultKvStore,
  embedded: boolean,
  logger: Logger,
): Promise<AuditTrust> {
  const anchor = new VaultAuditAnchor(vault, env.audit.anchorPath);
  if (!embedded) return { key: await readAuditKey(vault, env.audit.keyPath), anchor };
  const create = await embeddedAuditKey(join(env.embedded.dataDir, 'audit.key'));
  const trust = { key: await readAuditKey(vault, env.audit.keyPath, { create }), anchor };
  const adopted = await adoptAuditHead(env.auditLog, trust);
  if (adopted !== undefined)
    logger.warn(
      { auditLog: env.auditLog, entries: adopted.entries },
      'embedded Vault: the audit log is anchored at its current head; a cut before this start would not show',
    );
  return trust;
}

/** Runs until SIGINT or SIGTERM, then lets in-flight activities finish within the grace time. */
async function runWorker(env: WorkerEnvironment, logger: Logger): Promise<void> {
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
          histogramBucketOverrides: {
            [METRICS.stepDuration]: STEP_DURATION_BUCKETS,
            [SECONDS_TO_REVOCATION]: SECONDS_TO_REVOCATION_BUCKETS,
          },
        },
      },
    },
  });
  for (const { waiver, risk } of env.insecure)
    logger.warn({ waiver }, `ROTATOR_ALLOW_INSECURE=${waiver}: ${risk}`);
  const inventory = await InventoryWatcher.open(env.inventory, logger);
  // Like the inventory, bad keys stop the worker before any dev server starts.
  const codecKeys = await readCodecKeys(env.codec);
  // An invalid inventory has stopped the worker above, before any dev server starts.
  const servers = await startServers(env, inventory.current(), logger, codecKeys);
  try {
    await runWithServers(env, logger, inventory, servers, codecKeys);
  } finally {
    await servers.stop();
  }
}

async function runWithServers(
  env: WorkerEnvironment,
  logger: Logger,
  inventory: InventoryWatcher,
  servers: Servers,
  codecKeys: CodecKeys | undefined,
): Promise<void> {
  inventory.watch();
  process.on('SIGHUP', () => void inventory.reload('SIGHUP'));
  // A reloaded inventory may name a new KV mount, which the embedded Vault must have before a rotation.
  const { prepareVault } = servers;
  if (prepareVault !== undefined) {
    inventory.on('reloaded', (next) => {
      void prepareVault(next).then(
        (mounts) => logger.info({ mounts }, 'embedded Vault: KV v2 at every mount of the reloaded inventory'),
        (error: unknown) =>
          logger.error(
            { error },
            'cannot enable the KV mounts of the reloaded inventory on the embedded Vault',
          ),
      );
    });
  }

  const connection = await NativeConnection.connect({
    address: servers.temporalAddress,
    tls: await temporalTlsConfig(env.temporal.tls),
  });
  const vault = new VaultKvStore({
    endpoint: servers.vault.address,
    token: servers.vault.token,
    caCert: servers.vault.caCert,
  });
  const worker = await createRotationWorker({
    connection,
    namespace: env.temporal.namespace,
    taskQueue: env.temporal.taskQueue,
    vault,
    inventoryPath: env.inventory,
    inventory,
    audit: new FileAuditSink(
      env.auditLog,
      await auditTrust(env, vault, servers.prepareVault !== undefined, logger),
    ),
    alerts: env.alerts,
    shutdownGraceMs: env.shutdownGraceMs,
    workflowCache: env.workflowCache,
    dataConverter: encryptedDataConverter(codecKeys),
  });
  const freshness = new CredentialFreshness(
    Runtime.instance().metricMeter,
    () => inventory.current(),
    servers.vault,
    logger,
  );
  inventory.on('reloaded', () => void freshness.refresh());
  const health = await startHealthServer({
    port: env.healthPort,
    checks: [temporalCheck(worker, connection), vaultCheck(servers.vault)],
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
      temporal: servers.temporalAddress,
      namespace: env.temporal.namespace,
      taskQueue: env.temporal.taskQueue,
      vault: servers.vault.address,
      inventory: env.inventory,
      workflowBundle:
        existsSync(WORKFLOW_BUNDLE_PATH) && codecKeys === undefined
          ? WORKFLOW_BUNDLE_PATH
          : 'bundled at start',
      healthPort: health.port,
      metricsPort: env.metricsPort,
      payloadEncryption: codecKeys === undefined ? 'off' : `on, new payloads with key '${codecKeys.current}'`,
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
  const logger = createLogger(env.logLevel, process.stdout, { format: env.logFormat });
  runWorker(env, logger).then(
    // The native runtime can keep the event loop alive after the worker has stopped.
    () => process.exit(0),
    (error: unknown) => {
      logger.fatal({ error }, error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
