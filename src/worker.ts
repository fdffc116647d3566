import { NativeConnection, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createActivities } from '../activities';
import { parseOrThrow } from './validation';
import { VaultKvStore, type SecretStore } from './vault';

export const DEFAULT_TASK_QUEUE = 'credential-rotation';

export interface RotationWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  vault: SecretStore;
}

/** The worker that runs rotation workflows and their activities; tests build it the same way. */
export function createRotationWorker({ connection, namespace, taskQueue, vault }: RotationWorkerOptions) {
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({ vault }),
  });
}

const environmentSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default(DEFAULT_TASK_QUEUE),
  VAULT_ADDR: z.url().default('http://127.0.0.1:8200'),
  VAULT_TOKEN: z.string().min(1),
});

async function main(): Promise<void> {
  const env = parseOrThrow(environmentSchema, process.env, 'the worker environment');
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const worker = await createRotationWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    vault: new VaultKvStore({ endpoint: env.VAULT_ADDR, token: env.VAULT_TOKEN }),
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
