import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { SECONDS_TO_REVOCATION, SECONDS_TO_REVOCATION_BUCKETS } from '../../src/incidents/metrics';
import { startBreakGlass } from '../../src/incidents/start';
import { VaultKvStore } from '../../src/vault';
import { rotationWorld, until, type RotationWorld, leakedToken } from '../helpers/rotation';
import { testServers } from '../infra/test-servers';
import { buildWorkerWithBundle, killWorkerProcesses, startWorkerProcess } from '../worker/process';

const servers = testServers();
const vault = new VaultKvStore(servers.vault);
let rotation: RotationWorld;
let build: ReturnType<typeof buildWorkerWithBundle>;
let connection: Connection;

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  build = buildWorkerWithBundle();
  connection = await Connection.connect({ address: servers.temporalAddress });
});

afterAll(async () => {
  killWorkerProcesses();
  await connection?.close();
  await rotation?.close();
  build?.remove();
});

describe('the seconds-to-revocation histogram', () => {
  it('counts each break-glass revocation by credential and alert source, in the buckets of seconds', async () => {
    const credential = await rotation.seed('leaked');
    rotation.writeInventory();
    const taskQueue = `break-glass-metrics-${randomUUID()}`;
    const worker = await startWorkerProcess(build.dir, {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      VAULT_ADDR: servers.vault.endpoint,
      VAULT_TOKEN: servers.vault.token,
      ROTATOR_INVENTORY: rotation.inventoryPath,
      ROTATOR_AUDIT_LOG: rotation.auditLog,
    });
    await until(async () => (await worker.get('/readyz')).status === 200);
    const handle = await startBreakGlass(new Client({ connection }), taskQueue, {
      credentialId: credential.id,
      leaked: leakedToken(credential.old),
      alert: { source: 'github-secret-scanning', id: '42', receivedAt: new Date().toISOString() },
      requestedBy: 'alert-intake',
    });
    expect((await handle.result()).outcome).toBe('rotated');

    const labels = `credential_id="${credential.id}"`;
    const lines = async () =>
      (await worker.get('/metrics')).text
        .split('\n')
        .filter((line) => line.startsWith(SECONDS_TO_REVOCATION) && line.includes(labels));
    await until(async () =>
      (await lines()).some((line) => line.startsWith(`${SECONDS_TO_REVOCATION}_count`)),
    );
    const scraped = await lines();
    expect(scraped.find((line) => line.startsWith(`${SECONDS_TO_REVOCATION}_count`))).toMatch(/ 1$/);
    expect(scraped.find((line) => line.startsWith(`${SECONDS_TO_REVOCATION}_count`))).toContain(
      'alert_source="github-secret-scanning"',
    );
    const buckets = scraped
      .map((line) => /le="([^"]+)"/.exec(line)?.[1])
      .filter((le): le is string => le !== undefined && le !== '+Inf');
    expect(buckets.map(Number)).toEqual(SECONDS_TO_REVOCATION_BUCKETS);
  });
});
