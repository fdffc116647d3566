import type { ChildProcess } from 'node:child_process';
import { fchmodSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';

/**
 * What a spawned server inherits from the worker: where to find programs and temporary space, and the
 * locale. Everything else stays behind: the worker's environment holds VAULT_TOKEN, ROTATOR_CODEC_KEYS and
 * other secrets, which anyone who can read the child's /proc/<pid>/environ would see.
 */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ'] as const;

/** The minimal environment for a spawned server, plus the variables it is meant to read. */
export function serverEnvironment(
  own: Record<string, string>,
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const inherited = INHERITED.flatMap((name) => {
    const value = from[name];
    return value === undefined ? [] : [[name, value] as const];
  });
  return { ...Object.fromEntries(inherited), ...own };
}

/**
 * Opens a server's log for appending, readable by this user only (0600, also when it existed before), in a
 * folder created 0700: a server's log can name paths, ports and tokens of its own.
 */
export function openPrivateLog(file: string): number {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'a', 0o600);
  fchmodSync(fd, 0o600);
  return fd;
}

/** A loopback port nothing listens on now, for a server that cannot report the port it picked itself. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

/**
 * Throws unless the loopback port is free. A server left running by an earlier run (its worker killed with
 * SIGKILL) would otherwise answer in place of the one just started, which exits unnoticed on the clash.
 */
export async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'EADDRINUSE'
          ? 'in use (a server from an earlier run?)'
          : `unavailable (${error.code})`;
      reject(new Error(`cannot start ${what}: port ${port} is ${why}`));
    });
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

export const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
