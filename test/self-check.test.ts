import { randomBytes, randomUUID } from 'node:crypto';
import { ActivityFailure, type Client, WorkflowFailedError } from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import { VaultKvStore } from '../src/vault';
import { selfCheck } from '../workflows';
import { noAudit } from './helpers/audit';
import { historyText } from './helpers/history';
import { startTestWorker, type TestWorker } from './helpers/worker';
import { TEST_KV_MOUNT, testServers } from './infra/test-servers';

describe('selfCheck: a worker on the real Temporal server with an activity on the real Vault', () => {
  const servers = testServers();
  const vault = new VaultKvStore(servers.vault);
  const taskQueue = `self-check-${randomUUID()}`;
  let running: TestWorker;
  let client: Client;

  beforeAll(async () => {
    // selfCheck reads no inventory.
    running = await startTestWorker({ taskQueue, vault, inventoryPath: 'rotator.yaml', audit: noAudit });
    client = running.client;
  });

  afterAll(() => running?.stop());

  const run = (workflowId: string, args: Parameters<typeof selfCheck>) =>
    client.workflow.execute(selfCheck, { taskQueue, workflowId, args });

  it('copies a secret version by reference, and only the reference enters the history', async () => {
    const value = `glpat-${randomBytes(20).toString('hex')}`;
    const base = `self-check/${randomUUID()}`;
    const source = await vault.write({ mount: TEST_KV_MOUNT, path: `${base}/staged` }, { token: value });
    await vault.write(source, { token: 'a-later-version-that-must-not-be-copied' });
    const workflowId = `self-check/${randomUUID()}`;

    const copied = await run(workflowId, [
      { from: source, to: { mount: TEST_KV_MOUNT, path: `${base}/current` } },
    ]);

    expect(copied).toEqual({ mount: TEST_KV_MOUNT, path: `${base}/current`, version: 1 });
    expect((await vault.read(copied, copied.version)).data).toEqual({ token: value });

    const history = historyText(await client.workflow.getHandle(workflowId).fetchHistory());
    expect(history).toContain(`${base}/staged`);
    expect(history).toContain(`${base}/current`);
    expect(history).not.toContain(value);
  });

  it('fails without retrying when the version does not exist, naming the path and the HTTP status', async () => {
    const path = `self-check/${randomUUID()}/never-written`;
    const failure = await run(`self-check/${randomUUID()}`, [
      {
        from: { mount: TEST_KV_MOUNT, path, version: 3 },
        to: { mount: TEST_KV_MOUNT, path: `${path}-copy` },
      },
    ]).catch((error: unknown) => error);

    const activity = activityFailure(failure);
    expect(activity.retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    expect(activity.cause?.message).toBe(
      `Vault read ${TEST_KV_MOUNT}/${path} failed: HTTP 404: no reason given`,
    );
  });

  it('refuses an input that is not a reference, naming the bad field', async () => {
    const failure = await run(`self-check/${randomUUID()}`, [
      {
        from: { mount: TEST_KV_MOUNT, path: '../escape', version: 1 },
        to: { mount: TEST_KV_MOUNT, path: 'x' },
      },
    ]).catch((error: unknown) => error);

    const activity = activityFailure(failure);
    expect(activity.retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    expect(activity.cause?.message).toContain('copySecretVersion input is invalid');
    expect(activity.cause?.message).toContain('from.path: must not contain "." or ".." segments');
  });
});

function activityFailure(error: unknown): ActivityFailure {
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ActivityFailure);
  return cause as ActivityFailure;
}
