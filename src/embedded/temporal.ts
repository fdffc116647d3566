import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { ROTATION_SEARCH_ATTRIBUTES } from '../search-attributes';
import { assertPortFree, hasExited, openPrivateLog, serverEnvironment, stopProcess } from './processes';

export interface EmbeddedTemporal {
  address: string;
  uiUrl: string;
  dbFile: string;
  logFile: string;
  stop(): Promise<void>;
}

/** The dev server's first start creates its SQLite schema, which takes a few seconds on a slow disk. */
const START_TIMEOUT_MS = 60_000;

/**
 * Starts the Temporal CLI dev server with its state in `<dataDir>/temporal.sqlite`, so a restart keeps every
 * workflow, its Web UI on `uiPort`, and the rotation's search attributes registered (the server adds the
 * ones a reused file lacks). Its own process group keeps a terminal's Ctrl-C from stopping it before the
 * worker has drained.
 */
export async function startEmbeddedTemporal(options: {
  bin: string;
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** The codec server the Web UI decodes payloads with (`http://127.0.0.1:8234/<token>`). */
  uiCodecEndpoint?: string;
}): Promise<EmbeddedTemporal> {
  const { bin, dataDir, port, uiPort, namespace, uiCodecEndpoint } = options;
  await assertPortFree(port, 'the Temporal dev server');
  await assertPortFree(uiPort, "the Temporal dev server's Web UI");
  const dbFile = join(dataDir, 'temporal.sqlite');
  const logFile = join(dataDir, 'temporal.log');
  const log = openPrivateLog(logFile);
  const child = spawn(
    bin,
    [
      'server',
      'start-dev',
      '--ip=127.0.0.1',
      `--port=${port}`,
      `--ui-port=${uiPort}`,
      `--db-filename=${dbFile}`,
      // `default` always exists; any other namespace the worker polls must be created.
      ...(namespace === 'default' ? [] : [`--namespace=${namespace}`]),
      ...ROTATION_SEARCH_ATTRIBUTES.map((key) => `--search-attribute=${key.name}=Keyword`),
      ...(uiCodecEndpoint === undefined ? [] : [`--ui-codec-endpoint=${uiCodecEndpoint}`]),
    ],
    { stdio: ['ignore', log, log], env: serverEnvironment({}), detached: true },
  );
  const address = `127.0.0.1:${port}`;
  const stop = () => stopProcess(child, 10_000);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    let problem: unknown;
    try {
      if (await ready(address, namespace)) {
        return { address, uiUrl: `http://localhost:${uiPort}`, dbFile, logFile, stop };
      }
      problem = new Error('the search attributes are not registered yet');
    } catch (error) {
      problem = error;
    }
    const exited = hasExited(child) ? `it exited (${child.exitCode ?? child.signalCode})` : undefined;
    if (exited !== undefined || Date.now() > deadline) {
      await stop();
      throw new Error(
        `The Temporal dev server (${bin}) did not start: ${exited ?? 'not ready within 60s'}. Its log: ${logFile}`,
        { cause: problem },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The server answers, and the namespace and the search attributes exist: rotations can start. */
async function ready(address: string, namespace: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    return ROTATION_SEARCH_ATTRIBUTES.every((key) => key.name in customAttributes);
  } finally {
    await connection.close();
  }
}
