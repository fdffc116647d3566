import { randomUUID } from 'node:crypto';
import { encryptedDataConverter, parseCodecKeys } from '../../src/codec';
import { fingerprintOf } from '../../src/fingerprint';
import { startBreakGlass } from '../../src/incidents/start';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { statusQuery } from '../../workflows/status';
import { defined } from '../gitlab/world';
import { rotationWorld, until, type RotationWorld } from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

const servers = testServers();
const vault = new VaultKvStore(servers.vault);
const taskQueue = `break-glass-encrypted-${randomUUID()}`;
// The run's keys, so that the secret scan searches these histories decrypted as well.
const keys = parseCodecKeys(servers.codecKeys, 'ROTATOR_CODEC_KEYS', 'list');
let world: RotationWorld;
let running: TestWorker;

beforeAll(async () => {
  world = await rotationWorld(vault);
  running = await world.startWorker(taskQueue, { dataConverter: encryptedDataConverter(keys) });
});

afterAll(async () => {
  await running?.stop();
  await world?.close();
});

describe('the break-glass rotation on a worker that encrypts every payload', () => {
  it("reads and steers the normal rotation through the worker's own client: ends its overlap, then replaces the leaked new token", async () => {
    const credential = await world.seed('encrypted', { overlap: '1h' });
    world.writeInventory();
    const normal = await startRotation(running.client, taskQueue, {
      credentialId: credential.id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
    });
    await until(async () => (await normal.query(statusQuery)).phase === 'overlapping');
    const leaked = defined(world.newTokens(credential)[0]);

    const handle = await startBreakGlass(running.client, taskQueue, {
      credentialId: credential.id,
      leaked: {
        fingerprint: fingerprintOf(leaked.value),
        field: 'token',
        version: 'current',
        tokenId: String(leaked.id),
      },
      alert: { source: 'github-secret-scanning', id: '7', receivedAt: new Date().toISOString() },
      requestedBy: 'alert-intake',
    });

    expect(await handle.result()).toMatchObject({
      outcome: 'rotated',
      incident: { preempted: { phase: 'overlapping', action: 'overlap-ended', outcome: 'rotated' } },
    });
    expect(world.newTokens(credential).map(({ revoked }) => revoked)).toEqual([true, false]);
  });
});
