import { randomUUID } from 'node:crypto';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { rotationWorld, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

const vault = new VaultKvStore(testServers().vault);
const taskQueue = `concurrency-${randomUUID()}`;
let rotation: RotationWorld;
let running: TestWorker;
let credentials: SeededCredential[];

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  credentials = [];
  for (let n = 1; n <= 20; n += 1) credentials.push(await rotation.seed(`c${n}`));
  rotation.writeInventory();
  running = await rotation.startWorker(taskQueue);
});

afterAll(async () => {
  await running?.stop();
  await rotation?.close();
});

describe('rotations of many credentials at once', () => {
  it('rotates 20 credentials started together, each to exactly one new token live in its Vault path and target', async () => {
    const handles = await Promise.all(
      credentials.map((credential) =>
        startRotation(running.client, taskQueue, {
          credentialId: credential.id,
          reason: 'manual',
          requestedBy: 'alice',
          force: true,
        }),
      ),
    );
    const results = await Promise.all(handles.map((handle) => handle.result()));

    expect(results.map((result) => result.outcome)).toEqual(credentials.map(() => 'rotated'));
    for (const credential of credentials) await rotation.expectRotatedOnce(credential);
  });
});
