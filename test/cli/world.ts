import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { runCli } from '../../src/cli';
import { rotationWorkflowId } from '../../src/rotation-names';
import { VaultKvStore } from '../../src/vault';
import type { RotationStatus } from '../../workflows/status';
import { rotator } from '../helpers/cli';
import { rotationWorld, until, type RotationWorld } from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';

type Entry = Record<string, unknown> & { id: string; policy: Record<string, unknown> };

/**
 * The rotation world of test/helpers/rotation.ts with a worker on its own task queue, and `rotator` run
 * in-process against the real dev server with the environment an operator would set.
 */
export async function cliWorld(name: string) {
  const vault = new VaultKvStore(testServers().vault);
  const rotation: RotationWorld = await rotationWorld(vault);
  const taskQueue = `${name}-${randomUUID()}`;
  let worker: TestWorker | undefined;
  const env = (): NodeJS.ProcessEnv => ({
    TEMPORAL_ADDRESS: testServers().temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ROTATOR_INVENTORY: rotation.inventoryPath,
    USER: 'alice',
  });
  return {
    rotation,
    taskQueue,
    env,
    /** Runs `rotator` with this world's environment, plus `extra`. */
    cli: (argv: string[], extra: NodeJS.ProcessEnv = {}) => rotator(argv, { ...env(), ...extra }),
    /** Starts `rotator` and returns at once: `output()` is what it has written so far, `done` its end. */
    spawn(argv: string[]) {
      let stdout = '';
      let stderr = '';
      const done = runCli(
        argv,
        { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) },
        env(),
      ).then((code) => ({ code, stdout, stderr }));
      return { done, output: () => stdout + stderr };
    },
    async startWorker(): Promise<Client> {
      worker = await rotation.startWorker(taskQueue);
      return worker.client;
    },
    get client(): Client {
      if (worker === undefined) throw new Error('start the worker first');
      return worker.client;
    },
    /** Rewrites entries of the written inventory, e.g. to shorten a policy the seed options do not cover. */
    editInventory(edit: (entries: Entry[]) => void): void {
      const inventory = parse(readFileSync(rotation.inventoryPath, 'utf8')) as { credentials: Entry[] };
      edit(inventory.credentials);
      writeFileSync(rotation.inventoryPath, stringify(inventory));
    },
    /** Waits until the credential's running rotation reaches `phase`. */
    async untilPhase(credentialId: string, phase: RotationStatus['phase']): Promise<void> {
      const handle = this.client.workflow.getHandle(rotationWorkflowId(credentialId));
      await until(async () => {
        try {
          return (await handle.query<RotationStatus>('status')).phase === phase;
        } catch {
          return false;
        }
      });
      expect((await handle.query<RotationStatus>('status')).phase).toBe(phase);
    },
    async close(): Promise<void> {
      await worker?.stop();
      await rotation.close();
    },
  };
}

export type CliWorld = Awaited<ReturnType<typeof cliWorld>>;
