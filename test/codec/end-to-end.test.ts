import { randomUUID } from 'node:crypto';
import { Client, WorkflowFailedError } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { decryptHistoryPayloads, encryptedDataConverter, parseCodecKeys } from '../../src/codec';
import { startRotation } from '../../src/rotations';
import { rotationWorkflowId } from '../../src/rotation-names';
import { VaultKvStore } from '../../src/vault';
import { rotator } from '../helpers/cli';
import { historyText } from '../helpers/history';
import { rotationWorld, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

const servers = testServers();
const vault = new VaultKvStore(servers.vault);
const taskQueue = `codec-${randomUUID()}`;
// The run's keys, so that the secret scan searches these histories decrypted as well.
const keys = parseCodecKeys(servers.codecKeys, 'ROTATOR_CODEC_KEYS', 'list');
let rotation: RotationWorld;
let credential: SeededCredential;
let rotatedByCli: SeededCredential;
let running: TestWorker;
/** The operator's client: it has the keys. */
let client: Client;
/** Anyone reading Temporal's database or API without the keys. */
let outsider: Client;

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  credential = await rotation.seed('encrypted');
  rotatedByCli = await rotation.seed('by-cli');
  rotation.writeInventory();
  running = await rotation.startWorker(taskQueue, { dataConverter: encryptedDataConverter(keys) });
  client = running.client;
  outsider = new Client({ connection: running.connection });
});

afterAll(async () => {
  await running?.stop();
  await rotation?.close();
});

/*
 * Written by the SDK's core, not by the rotation, and in clear by Temporal's design: a patch's id
 * (`patch-data`) and a local activity's bookkeeping (`data`: sequence number, attempt, activity type, times).
 * The local activity's result beside them is encrypted like any other.
 */
const SDK_MARKER_DETAILS = /markerRecordedEventAttributes\.details\.(patch-data|data)\./;

/** Every payload of a history with where it is, except search attributes: Temporal indexes those in clear. */
function payloadsOf(history: temporal.api.history.v1.IHistory): { path: string; payload: Payload }[] {
  const found: { path: string; payload: Payload }[] = [];
  const visit = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object' || node instanceof Uint8Array) return;
    if ('metadata' in node && 'data' in node) return void found.push({ path, payload: node as Payload });
    for (const [key, value] of Object.entries(node)) {
      if (key !== 'searchAttributes' && key !== 'indexedFields') visit(value, `${path}.${key}`);
    }
  };
  visit(history.events, 'events');
  return found;
}

const encoding = ({ payload }: { payload: Payload }) =>
  Buffer.from(payload.metadata?.encoding ?? []).toString('utf8');

describe('a rotation with payload encryption, on the real Temporal server', () => {
  it('stores only encrypted payloads; the client with the keys reads the result, one without cannot', async () => {
    const handle = await startRotation(client, taskQueue, {
      credentialId: credential.id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
    });
    const result = await handle.result();
    expect(result).toMatchObject({ phase: 'done', outcome: 'rotated' });
    await rotation.expectRotatedOnce(credential);

    const history = await outsider.workflow.getHandle(rotationWorkflowId(credential.id)).fetchHistory();
    const payloads = payloadsOf(history);
    const paths = payloads.map(({ path }) => path).join('\n');
    for (const place of [
      'workflowExecutionStartedEventAttributes.input',
      'activityTaskScheduledEventAttributes.input',
      'activityTaskCompletedEventAttributes.result',
      'workflowExecutionCompletedEventAttributes.result',
      'markerRecordedEventAttributes.details.result',
    ]) {
      expect(paths).toContain(place);
    }
    expect(
      payloads.filter(
        (payload) => encoding(payload) !== 'binary/encrypted' && !SDK_MARKER_DETAILS.test(payload.path),
      ),
    ).toEqual([]);
    // What the workflow carries (the requester, the Vault path) is not readable without the keys.
    const raw = payloads.map(({ payload }) => Buffer.from(payload.data ?? []).toString('utf8')).join('\n');
    expect(raw).not.toContain('alice');
    expect(raw).not.toContain(credential.vault.path);
    await expect(outsider.workflow.getHandle(handle.workflowId).result()).rejects.toThrow(
      /binary\/encrypted/,
    );

    // The secret scan's view: with the keys, the history reads in full.
    const decrypted = historyText(decryptHistoryPayloads(history, keys));
    expect(decrypted).toContain('alice');
    expect(decrypted).toContain(credential.vault.path);
  });

  it("encrypts failure messages too: the activity's error is readable only with the keys", async () => {
    const credentialId = `${rotation.credentialId('never-seeded')}`;
    const failure = await startRotation(client, taskQueue, {
      credentialId,
      reason: 'manual',
      requestedBy: 'alice',
    })
      .then((handle) => handle.result())
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const message = (failure as WorkflowFailedError).cause?.message ?? '';
    expect(message).toContain(credentialId);

    const history = await outsider.workflow.getHandle(rotationWorkflowId(credentialId)).fetchHistory();
    const failures = (history.events ?? []).flatMap((event) =>
      [
        event.activityTaskFailedEventAttributes?.failure,
        event.workflowExecutionFailedEventAttributes?.failure,
      ].filter((found) => found !== undefined && found !== null),
    );
    expect(failures.length).toBeGreaterThan(0);
    for (const found of failures) {
      expect(found.message).toBe('Encoded failure');
      expect(Buffer.from(found.encodedAttributes?.metadata?.encoding ?? []).toString()).toBe(
        'binary/encrypted',
      );
    }
    expect(historyText(history)).not.toContain(message);
    expect(historyText(decryptHistoryPayloads(history, keys))).toContain(credentialId);
  });

  it('lets `rotator` with ROTATOR_CODEC_KEYS start a rotation and read its outcome', async () => {
    const env = {
      TEMPORAL_ADDRESS: servers.temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      ROTATOR_INVENTORY: rotation.inventoryPath,
      ROTATOR_CODEC_KEYS: servers.codecKeys,
    };
    const { code, stdout } = await rotator(
      ['rotate', rotatedByCli.id, '--force', '--wait', '--requested-by', 'bob'],
      env,
    );
    expect(code).toBe(0);
    expect(stdout).toContain('rotated');
    await rotation.expectRotatedOnce(rotatedByCli);
    const history = await outsider.workflow.getHandle(rotationWorkflowId(rotatedByCli.id)).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(Buffer.from(input?.metadata?.encoding ?? []).toString()).toBe('binary/encrypted');
  });
});
