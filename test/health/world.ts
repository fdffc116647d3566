import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { AlertPayload } from '../../src/alerts';
import { VaultKvStore } from '../../src/vault';
import { createRotationWorker } from '../../src/worker';
import { cliWorld } from '../cli/world';
import { testServers } from '../infra/test-servers';
import { testAuditSink } from '../helpers/audit';

/** The Web UI the alerts link to in these tests. */
export const TEST_UI_URL = 'http://temporal-ui.test:8233';

/** A local webhook that records every alert posted to it, and can refuse the next few with HTTP 500. */
export async function alertReceiver() {
  const received: AlertPayload[] = [];
  const bodies: string[] = [];
  let refuse = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      if (refuse > 0) {
        refuse -= 1;
        response.writeHead(500).end();
        return;
      }
      bodies.push(body);
      received.push(JSON.parse(body) as AlertPayload);
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    // A path like Slack's, which is itself a credential.
    url: `http://127.0.0.1:${port}/services/T000/B000/not-a-real-hook`,
    received,
    /** Every body exactly as it arrived, for scanning. */
    bodies,
    refuseNext(count: number): void {
      refuse = count;
    },
    close: () => new Promise<void>((closed) => server.close(() => closed())),
  };
}

/**
 * The CLI world of test/cli/world.ts, whose worker sends alerts to a local receiver: seeded GitLab
 * credentials, `rotator` run in-process, a worker on its own task queue.
 */
export async function healthWorld(name: string) {
  const world = await cliWorld(name);
  const receiver = await alertReceiver();
  const { temporalAddress, vault } = testServers();
  let stop: (() => Promise<void>) | undefined;
  let client: Client | undefined;
  return {
    rotation: world.rotation,
    taskQueue: world.taskQueue,
    cli: world.cli,
    editInventory: world.editInventory,
    receiver,
    /** Alerts of one credential received so far. */
    alertsOf: (credentialId: string) =>
      receiver.received.filter((alert) => alert.credentialId === credentialId),
    async startWorker(): Promise<Client> {
      const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
      const connection = await Connection.connect({ address: temporalAddress });
      const worker = await createRotationWorker({
        connection: nativeConnection,
        namespace: 'default',
        taskQueue: world.taskQueue,
        vault: new VaultKvStore(vault),
        inventoryPath: world.rotation.inventoryPath,
        audit: testAuditSink(world.rotation.auditLog),
        alerts: { webhookUrl: receiver.url, temporalUiUrl: TEST_UI_URL },
      });
      const running = worker.run();
      client = new Client({ connection });
      stop = async () => {
        worker.shutdown();
        await running;
        await connection.close();
        await nativeConnection.close();
      };
      return client;
    },
    get client(): Client {
      if (client === undefined) throw new Error('start the worker first');
      return client;
    },
    async close(): Promise<void> {
      await stop?.();
      await receiver.close();
      await world.close();
    },
  };
}

export type HealthWorld = Awaited<ReturnType<typeof healthWorld>>;
