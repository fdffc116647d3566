import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hasExited, openPrivateLog, serverEnvironment, stopProcess } from '../src/embedded/processes';

/** Whom a server or a command runs as: PostgreSQL refuses to run as root, so it gets a user of its own. */
export interface RunAs {
  uid: number;
  gid: number;
}

export interface RunOptions {
  /** Variables besides PATH, HOME and the locale (serverEnvironment): secrets never come from ours. */
  env?: Record<string, string>;
  runAs?: RunAs;
  cwd?: string;
}

/** Runs a setup command to completion; its output is kept for the error when it fails, else dropped. */
export async function run(bin: string, args: string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      {
        env: serverEnvironment(options.env ?? {}),
        cwd: options.cwd,
        uid: options.runAs?.uid,
        gid: options.runAs?.gid,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout);
        const output = `${stdout}${stderr}`.trim().split('\n').slice(-15).join('\n');
        reject(new Error(`${bin} ${args[0] ?? ''} failed (${error.code ?? error.signal}):\n${output}`));
      },
    );
  });
}

/** A long-running server of the topology, with its output in a private log. */
export interface Service {
  name: string;
  /** The running process: a new one after each restart. */
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
  /**
   * Stops the process and starts the same command again on the same files (the chaos run's faults), with
   * `env` over the first start's variables; the log goes on in the same file.
   */
  restart(env?: Record<string, string>): Promise<void>;
}

/**
 * Starts a server in a process group of its own, so that a terminal's Ctrl-C reaches only the tooling,
 * which stops the servers in order (workers first, PostgreSQL last) instead of all at once.
 */
export function startService(
  name: string,
  bin: string,
  args: string[],
  logFile: string,
  options: RunOptions & { graceMs?: number } = {},
): Service {
  const graceMs = options.graceMs ?? 10_000;
  const spawnChild = (env: Record<string, string>) => {
    const log = openPrivateLog(logFile);
    const child = spawn(bin, args, {
      stdio: ['ignore', log, log],
      env: serverEnvironment(env),
      cwd: options.cwd,
      uid: options.runAs?.uid,
      gid: options.runAs?.gid,
      detached: true,
    });
    closeSync(log);
    return child;
  };
  const service: Service = {
    name,
    child: spawnChild(options.env ?? {}),
    logFile,
    stop: () => stopProcess(service.child, graceMs),
    restart: async (env = {}) => {
      await stopProcess(service.child, graceMs);
      service.child = spawnChild({ ...options.env, ...env });
    },
  };
  return service;
}

/**
 * Polls `probe` until it returns a value. Stops the service and throws, with the end of its log, when it
 * exits or the time runs out.
 */
export async function waitFor<T>(
  service: Service,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let problem: unknown = 'no answer yet';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      problem = error;
    }
    const exited = hasExited(service.child)
      ? `it exited (${service.child.exitCode ?? service.child.signalCode})`
      : undefined;
    if (exited !== undefined || Date.now() > deadline) {
      await service.stop();
      const why = problem instanceof Error ? problem.message : String(problem);
      throw new Error(
        `${service.name} did not start: ${exited ?? `not ready within ${timeoutMs / 1000}s`} (${why}). ` +
          `The end of its log ${service.logFile}:\n${tail(service.logFile)}`,
        { cause: problem },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function tail(file: string): string {
  try {
    // A Go server's line can carry a whole stack trace: its start says enough.
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10);
    return lines.map((line) => (line.length > 400 ? `${line.slice(0, 400)}...` : line)).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Every port handed out so far: free when found, it stays free until its server binds it, maybe seconds later. */
const handedOut = new Set<number>();

/**
 * A free loopback port, never one handed out before in this process, and below 32768: Temporal stores each
 * service's membership port in a PostgreSQL smallint, so the kernel's ephemeral ports (32768 and up, which
 * freeLoopbackPort gets) make it fail at start.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
}
