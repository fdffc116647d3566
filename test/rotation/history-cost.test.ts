import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { HISTORY_FIXTURES, historyToFixture } from '../helpers/history';
import { rotationWorld, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

/**
 * What a rotation costs in history events as its targets grow (issue 27): every history event is stored,
 * replayed and billed, so each extra target may add at most four, and each target's write still shows in
 * the Web UI with its summary.
 */

const vault = new VaultKvStore(testServers().vault);
const taskQueue = `history-cost-${randomUUID()}`;
let rotation: RotationWorld;
let worker: TestWorker;

beforeAll(async () => {
  rotation = await rotationWorld(vault, { github: true });
});

afterAll(async () => {
  await worker?.stop();
  await rotation?.close();
});

type History = temporal.api.history.v1.IHistory;

/** Rotates `credential` to its end and answers its history. */
async function rotated(credential: SeededCredential): Promise<History> {
  const handle = await startRotation(worker.client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
  expect(await handle.result()).toMatchObject({ outcome: 'rotated' });
  await rotation.expectRotatedOnce(credential);
  return handle.fetchHistory();
}

/**
 * With ROTATOR_RECORD_HISTORIES set (`npm run fixtures:record`), commits `history` as a fixture of that
 * release, for test/rotation/replay.test.ts.
 */
function recordFixture(fixture: string, history: History): void {
  const version = process.env.ROTATOR_RECORD_HISTORIES;
  if (version === undefined) return;
  mkdirSync(join(HISTORY_FIXTURES, version), { recursive: true });
  writeFileSync(join(HISTORY_FIXTURES, version, `${fixture}.json`), historyToFixture(history));
}

/** The events of `history` that carry a summary for the Web UI, with it. */
const summarised = (history: History) =>
  (history.events ?? []).flatMap(({ eventType, userMetadata }) => {
    const data = userMetadata?.summary?.data;
    return data == null
      ? []
      : [{ eventType, summary: JSON.parse(Buffer.from(data).toString('utf8')) as string }];
  });

describe('the history of a rotation', () => {
  let one: History;
  let five: History;
  let targets: string[];

  beforeAll(async () => {
    const single = await rotation.seed('one-target');
    // Three CI variables and a GitHub secret beside them: the bench's five targets, across both providers.
    const several = await rotation.seed('five-targets', {
      targets: 'both',
      projectVariables: 3,
      groupVariable: true,
    });
    rotation.writeInventory();
    worker = await rotation.startWorker(taskQueue);
    one = await rotated(single);
    five = await rotated(several);
    targets = [...several.variables.map(({ key }) => key), ...several.secrets];
    recordFixture('happy-path-five-targets', five);
  });

  it('grows by at most four events per extra target', () => {
    expect(targets).toHaveLength(5);
    const perExtraTarget = ((five.events?.length ?? 0) - (one.events?.length ?? 0)) / 4;
    expect(perExtraTarget).toBeLessThanOrEqual(4);
  });

  it("shows each target's write in the Web UI with its summary, on the one event it records", () => {
    const writes = summarised(five).filter(({ summary }) => summary.startsWith('write new token '));
    expect(writes).toHaveLength(targets.length);
    for (const target of targets) {
      expect(writes.filter(({ summary }) => new RegExp(`\\b${target}\\b`).test(summary))).toHaveLength(1);
    }
    expect(new Set(writes.map(({ eventType }) => eventType))).toEqual(
      new Set([temporal.api.enums.v1.EventType.EVENT_TYPE_MARKER_RECORDED]),
    );
  });
});
