import { readFileSync } from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';

/**
 * mTLS as the rotation worker makes it, when TEMPORAL_TLS_CERT is set (the production topology's frontend):
 * read here with node's own modules, since the floor is compiled on its own from these two files.
 */
function tls() {
  const { TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_SERVER_NAME } = process.env;
  if (TEMPORAL_TLS_CERT === undefined || TEMPORAL_TLS_KEY === undefined) return undefined;
  return {
    serverNameOverride: TEMPORAL_TLS_SERVER_NAME,
    ...(TEMPORAL_TLS_CA === undefined ? {} : { serverRootCACertificate: readFileSync(TEMPORAL_TLS_CA) }),
    clientCertPair: { crt: readFileSync(TEMPORAL_TLS_CERT), key: readFileSync(TEMPORAL_TLS_KEY) },
  };
}

/**
 * The floor's worker, a process of its own like the rotation worker: TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE,
 * TEMPORAL_NAMESPACE and the TEMPORAL_TLS_* files.
 */
async function main(): Promise<void> {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS, tls: tls() });
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: process.env.TEMPORAL_TASK_QUEUE ?? 'floor',
    workflowsPath: require.resolve('./workflows'),
    activities: { nothing: async () => undefined },
  });
  process.stdout.write('floor worker started\n');
  await worker.run();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
