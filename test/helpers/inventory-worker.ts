import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startRotation } from '../../src/rotations';
import type { VaultKvStore } from '../../src/vault';
import { auditLogFile, testAuditSink } from './audit';
import { historyText } from './history';
import { startTestWorker, type TestWorker } from './worker';

/**
 * A rotation worker on a task queue of its own, reading an inventory file it writes and appending to an audit
 * log of its own: for tests that rotate a few credentials, then read every history they left.
 */
export function inventoryWorker(name: string, vault: VaultKvStore) {
  const taskQueue = `${name}-${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const auditLog = auditLogFile(name);
  const started: string[] = [];
  let running: TestWorker | undefined;
  const worker = () => {
    if (running === undefined) throw new Error(`the ${name} worker is not started`);
    return running;
  };
  return {
    auditLog,
    /** Writes the inventory (its providers and credentials) and starts the worker on it. */
    async start(inventory: object): Promise<void> {
      const inventoryPath = join(dir, 'rotator.yaml');
      writeFileSync(inventoryPath, stringify(inventory));
      running = await startTestWorker({ taskQueue, vault, inventoryPath, audit: testAuditSink(auditLog) });
    },
    /** A forced manual rotation of the credential, as alice asks for it. */
    async rotate(credentialId: string) {
      const handle = await startRotation(worker().client, taskQueue, {
        credentialId,
        reason: 'manual',
        requestedBy: 'alice',
        force: true,
      });
      started.push(handle.workflowId);
      return handle;
    },
    /** The histories of every rotation started here, and the audit log, as one text; and how many histories. */
    async recorded(): Promise<{ histories: number; text: string }> {
      const { client } = worker();
      const histories = await Promise.all(
        started.map((workflowId) => client.workflow.getHandle(workflowId).fetchHistory()),
      );
      const text = `${histories.map(historyText).join('\n')}\n${readFileSync(auditLog, 'utf8')}`;
      return { histories: histories.length, text };
    },
    async stop(): Promise<void> {
      await running?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
