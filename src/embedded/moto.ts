import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freeLoopbackPort, hasExited, openPrivateLog, serverEnvironment, stopProcess } from './processes';

export interface MotoServer {
  /** Where an AWS SDK client sends its requests (`endpoint`), whatever the region. */
  endpoint: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Python's start, moto's imports included, takes a second or two; a loaded machine takes longer. */
const START_TIMEOUT_MS = 30_000;

/**
 * Starts moto's server (the AWS APIs in memory, Secrets Manager among them) on a free loopback port and
 * waits until it answers. It checks no signature, so any access key works. Its log has one line per request
 * (method, path, status), never a body, so no secret value reaches it.
 */
export async function startMotoServer(bin: string, logDir: string): Promise<MotoServer> {
  const port = await freeLoopbackPort();
  const logFile = join(logDir, 'moto.log');
  const log = openPrivateLog(logFile);
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', log, log],
    env: serverEnvironment({}),
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () => stopProcess(child);
  try {
    await waitForMoto(endpoint, child);
    return { endpoint, logFile, stop };
  } catch (error) {
    await stop();
    throw new Error(
      `The moto server (${bin}) did not start: ${(error as Error).message}. Its log: ${logFile}`,
      {
        cause: error,
      },
    );
  }
}

async function waitForMoto(endpoint: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`it exited (${child.exitCode ?? child.signalCode})`);
    try {
      // moto's own dashboard: it answers once the server takes requests.
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) return;
      lastProblem = `/moto-api/ answered HTTP ${response.status}`;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`it was not ready within ${START_TIMEOUT_MS / 1000}s (${lastProblem})`);
}
