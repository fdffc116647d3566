import { randomUUID } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { WORKER_PROCESS_ENVIRONMENT } from '../src/config/environment';
import { startRotation } from '../src/rotations';
import { VaultKvStore } from '../src/vault';
import { buildWorker, spawnWorker, type WorkerProcess } from '../test/helpers/worker-process';
import { testServers } from '../test/infra/test-servers';
import type { RotationStatus } from '../workflows/status';
import { findProcess } from './measure';
import { benchWorld } from './world';

const ROOT = join(__dirname, '..');

export const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/**
 * What every bench mode runs on: the test suite's servers, the compiled worker and floor worker, the bench
 * world (both simulators), a Temporal client, and the processes each phase starts. `close` stops them all.
 */
export async function benchHarness({ workflowCache }: { workflowCache?: number } = {}) {
  const servers = testServers();
  const vault = new VaultKvStore(servers.vault);
  const temporalPort = servers.temporalAddress.split(':').at(-1) ?? '';
  const serverPids = {
    'Temporal server': findProcess('start-dev', `--port ${temporalPort}`),
    Vault: findProcess(`-dev-listen-address=${new URL(servers.vault.endpoint).host}`),
    'bench (driver, simulators)': process.pid,
  };

  log('compiling the worker, its workflow bundle and the floor worker');
  const build = buildWorker();
  execFileSync(process.execPath, [join(build.dir, 'src/workflow-bundle.js')], { stdio: 'ignore' });
  execFileSync(process.execPath, [
    join(ROOT, 'node_modules/typescript/bin/tsc'),
    ...['--outDir', join(build.dir, 'bench/floor'), '--module', 'commonjs', '--target', 'ES2022'],
    ...['--esModuleInterop', '--skipLibCheck', '--types', 'node'],
    join(ROOT, 'bench/floor/worker.ts'),
    join(ROOT, 'bench/floor/workflows.ts'),
  ]);

  const world = await benchWorld(vault);
  const connection = await Connection.connect({ address: servers.temporalAddress });
  const client = new Client({ connection });
  const stoppable: { stop(): Promise<void> }[] = [];

  /**
   * A rotation worker process of its own, with an inventory of exactly the credentials `ids`; with `replicas`,
   * that many processes share its task queue, each with its own audit log (and so its own anchor).
   */
  const rotationWorker = async (
    name: string,
    ids: string[],
    vaultAddress = servers.vault.endpoint,
    replicas = 1,
  ) => {
    const taskQueue = `bench-${name}-${randomUUID()}`;
    const inventoryPath = world.writeInventory(name, ids);
    const workers: WorkerProcess[] = [];
    for (let replica = 1; replica <= replicas; replica += 1) {
      workers.push(
        await spawnWorker(build.dir, {
          ...WORKER_PROCESS_ENVIRONMENT,
          TEMPORAL_ADDRESS: servers.temporalAddress,
          TEMPORAL_TASK_QUEUE: taskQueue,
          VAULT_ADDR: vaultAddress,
          VAULT_TOKEN: servers.vault.token,
          ROTATOR_INVENTORY: inventoryPath,
          ROTATOR_AUDIT_LOG: world.auditLog(replica === 1 ? name : `${name}-${replica}`),
          LOG_LEVEL: 'warn',
          ...(workflowCache === undefined ? {} : { ROTATOR_WORKFLOW_CACHE: String(workflowCache) }),
        }),
      );
    }
    const [worker] = workers as [WorkerProcess, ...WorkerProcess[]];
    // A worker that dies fails the run at once, with what it printed, rather than leaving rotations waiting.
    let watchdog: NodeJS.Timeout | undefined;
    const died = new Promise<never>((_, reject) => {
      watchdog = setInterval(() => {
        const dead = workers.find(({ pid }) => pid === undefined || !existsSync(`/proc/${pid}`));
        if (dead === undefined) return;
        clearInterval(watchdog);
        reject(new Error(`a ${name} worker exited:\n${dead.output().slice(-4000)}`));
      }, 1_000);
    });
    died.catch(() => undefined);
    const stop = async () => {
      clearInterval(watchdog);
      await Promise.all(workers.map((each) => each.crash()));
    };
    stoppable.push({ stop });
    /** The status a workflow of this worker ends with, or the worker's death. */
    const resultOf = (workflowId: string) =>
      Promise.race([client.workflow.getHandle(workflowId).result() as Promise<RotationStatus>, died]);
    const rotate = async (credentialId: string): Promise<RotationStatus> => {
      const handle = await startRotation(client, taskQueue, {
        credentialId,
        reason: 'manual',
        requestedBy: 'bench',
        force: true,
      });
      const status = await resultOf(handle.workflowId);
      if (status.outcome !== 'rotated')
        throw new Error(`${credentialId}: ${status.outcome} ${status.detail}`);
      return status;
    };
    return { worker, workers, taskQueue, rotate, resultOf, stop, inventory: ids.length, inventoryPath };
  };

  /** The floor's worker in its own process, as the rotation worker runs in its own; `floor` runs one. */
  const floorWorker = (activities: number) => {
    const taskQueue = `bench-floor-${randomUUID()}`;
    const child = spawn(process.execPath, [join(build.dir, 'bench/floor/worker.js')], {
      env: {
        ...WORKER_PROCESS_ENVIRONMENT,
        PATH: process.env.PATH ?? '',
        TEMPORAL_ADDRESS: servers.temporalAddress,
        TEMPORAL_TASK_QUEUE: taskQueue,
      },
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async () => {
      child.kill('SIGKILL');
      await exited;
    };
    stoppable.push({ stop });
    return {
      pid: child.pid,
      stop,
      async floor(): Promise<void> {
        await client.workflow.execute('floor', {
          taskQueue,
          workflowId: `floor/${randomUUID()}`,
          args: [activities],
        });
      },
    };
  };

  return {
    servers,
    vault,
    build,
    world,
    client,
    serverPids,
    rotationWorker,
    floorWorker,
    /** Has `close` stop another process a phase started, in case the phase ends early. */
    adopt(stop: () => Promise<void>): void {
      stoppable.push({ stop });
    },
    /** Stops every process a phase left running, then the world and the build. */
    async close(): Promise<void> {
      for (const process of stoppable) await process.stop();
      await connection.close();
      await world.close();
      build.remove();
    },
  };
}

export type BenchHarness = Awaited<ReturnType<typeof benchHarness>>;
