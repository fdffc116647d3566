import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scannedFile } from '../infra/secret-scan';

const ROOT = join(__dirname, '../..');

/**
 * Compiles the worker as `npm start` runs it, into a temporary directory that borrows the repository's
 * node_modules; `remove` deletes it.
 */
export function buildWorker(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-build-'));
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', dir],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A worker running in its own Node process, which a test can kill like a crashed host. */
export interface WorkerProcess {
  /** The process id, for reading its memory from /proc (the benchmark). */
  pid: number | undefined;
  /** Everything it printed, stdout and stderr, so far. */
  output(): string;
  /** SIGKILL: no shutdown, no draining, in-flight activities lost. Resolves once it has exited. */
  crash(): Promise<void>;
}

/** Starts `node <build>/src/worker.js` with the given worker environment (docs/deployment.md, "Variables"). */
export async function spawnWorker(build: string, env: Record<string, string>): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, [join(build, 'src/worker.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      METRICS_PORT: String(await freePort()),
      ROTATOR_HEALTH_PORT: String(await freePort()),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.add(child);
  let output = '';
  // Kept in the run's folder too, for the run-wide secret scan.
  const log = scannedFile('workers', `worker-${randomUUID()}.log`);
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    appendFileSync(log, chunk);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => spawned.delete(child));
  return {
    pid: child.pid,
    output: () => output,
    async crash() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

const spawned = new Set<ChildProcess>();

/** Kills every worker process still running; for afterAll, so that a failed test leaves none behind. */
export function killWorkers(): void {
  for (const child of spawned) child.kill('SIGKILL');
  spawned.clear();
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
