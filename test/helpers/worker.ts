import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createRotationWorker, type RotationWorkerOptions } from '../../src/worker';
import { testServers } from '../infra/test-servers';

/** A rotation worker running on a Temporal server, and a client of that server. */
export interface TestWorker {
  /** With the worker's data converter: it reads what the worker encrypts. */
  client: Client;
  /** The client's connection, for a client of its own (one without the codec keys, say). */
  connection: Connection;
  stop(): Promise<void>;
}

/**
 * Starts a worker polling its own task queue, on the test Temporal server unless `address` names another;
 * `stop` shuts it down and closes both connections.
 */
export async function startTestWorker(
  options: Pick<
    RotationWorkerOptions,
    'taskQueue' | 'vault' | 'stores' | 'inventoryPath' | 'audit' | 'dataConverter'
  > & {
    address?: string;
  },
): Promise<TestWorker> {
  const { address = testServers().temporalAddress, dataConverter, ...worker } = options;
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const running = await createRotationWorker({
    connection: nativeConnection,
    namespace: 'default',
    dataConverter,
    ...worker,
  });
  const run = running.run();
  return {
    client: new Client({ connection, dataConverter }),
    connection,
    async stop() {
      running.shutdown();
      await run;
      await connection.close();
      await nativeConnection.close();
    },
  };
}
