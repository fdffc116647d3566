import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createRotationWorker, type RotationWorkerOptions } from '../../src/worker';
import { testServers } from '../infra/test-servers';

/** A rotation worker running on the test Temporal server, and a client of that server. */
export interface TestWorker {
  client: Client;
  stop(): Promise<void>;
}

/** Starts a worker polling its own task queue; `stop` shuts it down and closes both connections. */
export async function startTestWorker(
  options: Pick<RotationWorkerOptions, 'taskQueue' | 'vault' | 'inventoryPath' | 'audit'>,
): Promise<TestWorker> {
  const { temporalAddress } = testServers();
  const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
  const connection = await Connection.connect({ address: temporalAddress });
  const worker = await createRotationWorker({
    connection: nativeConnection,
    namespace: 'default',
    ...options,
  });
  const running = worker.run();
  return {
    client: new Client({ connection }),
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
      await nativeConnection.close();
    },
  };
}
