import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import {
  temporalTlsConfig,
  temporalTlsSettings,
  type TemporalTlsVariables,
} from '../../src/config/temporal-tls';
import { VaultKvStore } from '../../src/vault';
import { createRotationWorker } from '../../src/worker';
import { selfCheck } from '../../workflows';
import { noAudit } from '../helpers/audit';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { certificateFolder, type Issued, type ThrowawayCa } from './certificates';
import { startMtlsProxy, type MtlsProxy } from './mtls-proxy';

/** The name the proxy's certificate carries; 127.0.0.1 is not in it, so clients must override the name. */
const SERVER_NAME = 'temporal.test';

const servers = testServers();
const certs = certificateFolder();
let ca: ThrowawayCa;
let worker: Issued;
let stranger: Issued;
let proxy: MtlsProxy;

beforeAll(async () => {
  ca = certs.ca('temporal-ca');
  const server = ca.issue('temporal-frontend', { dnsNames: [SERVER_NAME] });
  worker = ca.issue('rotator-worker');
  stranger = certs.ca('other-ca').issue('stranger');
  proxy = await startMtlsProxy({
    target: servers.temporalAddress,
    cert: server.cert,
    key: server.key,
    ca: ca.cert,
  });
});

afterAll(async () => {
  await proxy?.close();
  certs.remove();
});

/** TLS options as the worker and the CLI build them from their TEMPORAL_TLS_* variables. */
function tlsFrom(variables: TemporalTlsVariables) {
  return temporalTlsConfig(temporalTlsSettings(variables));
}

/** `serverName: null` leaves TEMPORAL_TLS_SERVER_NAME unset. */
const mutual = (client: Issued = worker, serverName: string | null = SERVER_NAME) => ({
  TEMPORAL_TLS_CA: ca.certFile,
  TEMPORAL_TLS_CERT: client.certFile,
  TEMPORAL_TLS_KEY: client.keyFile,
  TEMPORAL_TLS_SERVER_NAME: serverName ?? undefined,
});

/**
 * Connects the client way and makes one call, which is where a refused handshake shows. Its own subchannel
 * pool makes it handshake afresh: grpc-js would otherwise reuse an earlier test's authenticated connection.
 */
async function clientCall(variables: TemporalTlsVariables): Promise<void> {
  const connection = await Connection.connect({
    address: proxy.address,
    tls: await tlsFrom(variables),
    connectTimeout: '3s',
    channelArgs: { 'grpc.use_local_subchannel_pool': 1 },
  });
  try {
    await connection.workflowService.getSystemInfo({});
  } finally {
    await connection.close();
  }
}

describe('mutual TLS between the worker or CLI and Temporal (through a TLS-terminating proxy)', () => {
  it('lets a client with a certificate from the CA start and list workflows', async () => {
    const connection = await Connection.connect({ address: proxy.address, tls: await tlsFrom(mutual()) });
    try {
      const client = new Client({ connection });
      const workflowId = `mtls/${randomUUID()}`;
      const handle = await client.workflow.start('notRunByAnyWorker', {
        taskQueue: `mtls-${randomUUID()}`,
        workflowId,
      });
      const described = await handle.describe();
      expect(described.status.name).toBe('RUNNING');
      await handle.terminate('started only to show the connection works');
    } finally {
      await connection.close();
    }
  });

  it('runs a worker over mutual TLS: a workflow started by a client over mutual TLS completes', async () => {
    const tls = await tlsFrom(mutual());
    const native = await NativeConnection.connect({ address: proxy.address, tls });
    const connection = await Connection.connect({ address: proxy.address, tls });
    const taskQueue = `mtls-${randomUUID()}`;
    const vault = new VaultKvStore(servers.vault);
    const running = await createRotationWorker({
      connection: native,
      namespace: 'default',
      taskQueue,
      vault,
      inventoryPath: 'rotator.yaml',
      audit: noAudit,
    });
    const done = running.run();
    try {
      const from = await vault.write({ mount: TEST_KV_MOUNT, path: `mtls/${randomUUID()}` }, { token: 'x' });
      const copied = await new Client({ connection }).workflow.execute(selfCheck, {
        taskQueue,
        workflowId: `mtls/${randomUUID()}`,
        args: [{ from, to: { mount: TEST_KV_MOUNT, path: `${from.path}-copy` } }],
      });
      expect(copied.version).toBe(1);
    } finally {
      running.shutdown();
      await done;
      await connection.close();
      await native.close();
    }
  });

  it('refuses a client certificate from another CA, and a client without one', async () => {
    const before = proxy.refused();
    await expect(clientCall(mutual(stranger))).rejects.toThrow();
    await expect(
      clientCall({ TEMPORAL_TLS_CA: ca.certFile, TEMPORAL_TLS_SERVER_NAME: SERVER_NAME }),
    ).rejects.toThrow();
    await expect(
      NativeConnection.connect({ address: proxy.address, tls: await tlsFrom(mutual(stranger)) }).then((c) =>
        c.close(),
      ),
    ).rejects.toThrow();
    expect(proxy.refused()).toBeGreaterThan(before);
  });

  it('refuses a server whose certificate names another host, and connects once the name is overridden', async () => {
    // Without an override the client checks the address, 127.0.0.1, which the certificate does not name.
    await expect(clientCall(mutual(worker, null))).rejects.toThrow();
    await expect(clientCall(mutual(worker, 'other.test'))).rejects.toThrow();
    await expect(
      NativeConnection.connect({
        address: proxy.address,
        tls: await tlsFrom(mutual(worker, 'other.test')),
      }).then((c) => c.close()),
    ).rejects.toThrow();
    await expect(clientCall(mutual(worker, SERVER_NAME))).resolves.toBeUndefined();
  });

  it('refuses a server whose certificate another CA signed', async () => {
    await expect(
      clientCall({ ...mutual(), TEMPORAL_TLS_CA: certs.ca('unrelated-ca').certFile }),
    ).rejects.toThrow();
  });
});
