import { NativeConnection, Worker } from '@temporalio/worker';

/** The floor's worker, a process of its own like the rotation worker: TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE. */
async function main(): Promise<void> {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
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
