import { appendFileSync, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { assertPortFree } from '../../src/embedded/processes';
import { ROTATION_SEARCH_ATTRIBUTES } from '../../src/search-attributes';
import { auditLogFile } from '../helpers/audit';
import { until } from '../helpers/rotation';
import { freeLoopbackPort } from '../infra/dev-servers';
import { testServers } from '../infra/test-servers';
import {
  buildWorkerWithBundle,
  killWorkerProcesses,
  startWorkerProcess,
  type RunningWorker,
} from './process';

const { binaries } = testServers();
/** A credential of a new environment, appended to the sandbox's inventory: its KV mount is new too. */
const NEW_CREDENTIAL = `
  - id: reporter-qa
    description: Added while the worker runs
    environment: qa
    owner: team-qa
    source:
      kind: gitlab-project-access-token
      gitlab: sandbox
      project: platform/qa
      tokenName: reporter
      scopes: [read_api]
      accessLevel: reporter
      lifetimeDays: 30
    vault: { mount: kv-sandbox-qa, path: gitlab/reporter }
    targets:
      - kind: gitlab-ci-variable
        gitlab: sandbox
        project: platform/qa
        key: REPORT_TOKEN
`;
const dir = mkdtempSync(join(tmpdir(), 'rotator-embedded-'));
const dataDir = join(dir, 'data');
const inventory = join(dir, 'rotator.yaml');
let build: ReturnType<typeof buildWorkerWithBundle>;
let environment: Record<string, string>;
let temporalPort: number;
let worker: RunningWorker | undefined;

beforeAll(async () => {
  build = buildWorkerWithBundle();
  temporalPort = await freeLoopbackPort();
  // The sandbox's inventory: its providers need not answer for the worker to start and be ready.
  copyFileSync(join(__dirname, '../../examples/sandbox.yaml'), inventory);
  // No TEMPORAL_ADDRESS and no VAULT_ADDR: the worker starts both servers, from the binaries the run has built.
  environment = {
    TEMPORAL_CLI_PATH: binaries.temporalCli,
    VAULT_BIN: binaries.vault,
    // With both binaries named nothing is built; were the build script to run, it would not touch the machine's cache.
    ROTATOR_CACHE_DIR: join(dir, 'cache'),
    ROTATOR_DATA_DIR: dataDir,
    ROTATOR_EMBEDDED_TEMPORAL_PORT: String(temporalPort),
    ROTATOR_EMBEDDED_UI_PORT: String(await freeLoopbackPort()),
    ROTATOR_INVENTORY: inventory,
    ROTATOR_AUDIT_LOG: auditLogFile('embedded'),
    TEMPORAL_TASK_QUEUE: 'embedded-test',
  };
});

afterAll(async () => {
  // SIGTERM first, so the worker stops the servers it started; SIGKILL would leave them running.
  worker?.signal('SIGTERM');
  await worker?.exited;
  killWorkerProcesses();
  build?.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function startReadyWorker(): Promise<RunningWorker> {
  const started = await startWorkerProcess(build.dir, environment);
  await until(
    async () => (await started.get('/readyz')).status === 200 || started.output().includes('"fatal"'),
  );
  if ((await started.get('/readyz')).status !== 200) {
    throw new Error(`the worker did not become ready; it printed:\n${started.output()}`);
  }
  return started;
}

async function withClient<T>(use: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
  try {
    return await use(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

async function stop(running: RunningWorker): Promise<void> {
  running.signal('SIGTERM');
  expect(await running.exited).toBe(0);
  worker = undefined;
}

describe('the worker with no TEMPORAL_ADDRESS and no VAULT_ADDR', () => {
  it('starts the Temporal dev server and an in-memory Vault, warns loudly, and becomes ready', async () => {
    worker = await startReadyWorker();
    const messages = worker.logLines().map((line) => [line.level, line.msg]);
    expect(messages).toContainEqual([
      'info',
      `TEMPORAL_ADDRESS is unset: started the Temporal dev server; its Web UI is on http://localhost:${environment.ROTATOR_EMBEDDED_UI_PORT}`,
    ]);
    expect(messages).toContainEqual([
      'warn',
      expect.stringMatching(/^VAULT_ADDR IS UNSET: .* VANISHES WHEN THE WORKER STOPS/),
    ]);
    // A KV v2 engine for every mount of the inventory, so the first rotation finds its paths.
    const vault = worker.logLines().find((line) => String(line.msg).startsWith('VAULT_ADDR IS UNSET'));
    expect(vault?.mounts).toEqual(['kv-sandbox-admin', 'kv-sandbox-production', 'kv-sandbox-staging']);
    const names = await withClient(async (client) =>
      Object.keys(
        (await client.connection.operatorService.listSearchAttributes({ namespace: 'default' }))
          .customAttributes,
      ),
    );
    expect(names).toEqual(expect.arrayContaining(ROTATION_SEARCH_ATTRIBUTES.map((key) => key.name)));
    expect(existsSync(join(dataDir, 'temporal.sqlite'))).toBe(true);
  });

  it('enables the KV mounts of a reloaded inventory on the embedded Vault', async () => {
    worker ??= await startReadyWorker();
    const running = worker;
    appendFileSync(inventory, NEW_CREDENTIAL);
    running.signal('SIGHUP');
    const enabled = () =>
      running
        .logLines()
        .find((line) => line.msg === 'embedded Vault: KV v2 at every mount of the reloaded inventory');
    await until(async () => enabled() !== undefined);
    expect(enabled()?.mounts).toEqual([
      'kv-sandbox-admin',
      'kv-sandbox-production',
      'kv-sandbox-qa',
      'kv-sandbox-staging',
    ]);
  });

  it('refuses to start a second Temporal dev server on the same port, naming it', async () => {
    worker ??= await startReadyWorker();
    const second = await startWorkerProcess(build.dir, environment);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(`cannot start the Temporal dev server: port ${temporalPort} is in use`);
  });

  it('keeps every workflow across a restart, in the SQLite file under ROTATOR_DATA_DIR', async () => {
    worker ??= await startReadyWorker();
    const workflowId = 'kept-across-restarts';
    // A workflow no worker polls for stays running: exactly what must survive the restart.
    await withClient((client) =>
      client.workflow.start('parked', { taskQueue: 'nobody-polls-this', workflowId }),
    );
    await stop(worker);
    // The servers stopped with the worker: their ports are free again.
    await expect(assertPortFree(temporalPort, 'Temporal')).resolves.toBeUndefined();

    worker = await startReadyWorker();
    const description = await withClient((client) => client.workflow.getHandle(workflowId).describe());
    expect(description.status.name).toBe('RUNNING');
    await stop(worker);
  });
});
