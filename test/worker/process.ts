import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { buildWorker } from '../helpers/worker-process';
import { freeLoopbackPort } from '../infra/dev-servers';
import { scannedFile } from '../infra/secret-scan';

/** The worker compiled as `npm run build` compiles it, prebuilt workflow bundle included. */
export function buildWorkerWithBundle(): ReturnType<typeof buildWorker> {
  const build = buildWorker();
  execFileSync(process.execPath, [join(build.dir, 'src/workflow-bundle.js')], { stdio: 'ignore' });
  return build;
}

/** A worker process a test can signal, and whose JSON log lines it can read. */
export interface RunningWorker {
  healthPort: number;
  metricsPort: number;
  output(): string;
  /** The parsed JSON lines printed so far; anything else it printed is skipped. */
  logLines(): Record<string, unknown>[];
  signal(signal: NodeJS.Signals): void;
  /** Resolves with the exit code (or the signal that ended it). */
  exited: Promise<number | NodeJS.Signals>;
  get(path: string): Promise<{ status: number; text: string }>;
}

const children = new Set<ChildProcess>();

export async function startWorkerProcess(build: string, env: Record<string, string>): Promise<RunningWorker> {
  const healthPort = await freeLoopbackPort();
  const metricsPort = await freeLoopbackPort();
  const child = spawn(process.execPath, [join(build, 'src/worker.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      ROTATOR_HEALTH_PORT: String(healthPort),
      METRICS_PORT: String(metricsPort),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  // Kept in the run's folder too, for the run-wide secret scan.
  const log = scannedFile('workers', `worker-${randomUUID()}.log`);
  const metrics = scannedFile('metrics', `worker-${randomUUID()}.prom`);
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    appendFileSync(log, chunk);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    healthPort,
    metricsPort,
    output: () => output,
    logLines: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    signal: (name) => child.kill(name),
    exited,
    async get(path) {
      const port = path === '/metrics' ? metricsPort : healthPort;
      try {
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        const text = await response.text();
        // The latest scrape is kept for the secret scan, which runs once the process is gone; series are
        // never dropped, so it holds every label an earlier scrape showed.
        if (path === '/metrics') writeFileSync(metrics, text);
        return { status: response.status, text };
      } catch {
        return { status: 0, text: '' };
      }
    },
  };
}

/** For afterAll: no worker process outlives a failed test. */
export function killWorkerProcesses(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

/**
 * A TCP proxy to a server, on a loopback port of its own, that a test closes and reopens to make that
 * server unreachable and back again without touching the server itself.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async to(address: string): Promise<TcpProxy> {
    const { hostname, port } = new URL(address.includes('://') ? address : `tcp://${address}`);
    const proxy = new TcpProxy(await freeLoopbackPort(), { host: hostname, port: Number(port) });
    await proxy.open();
    return proxy;
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  /** Refuses new connections and cuts the open ones. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
