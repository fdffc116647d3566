import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { runCli } from '../src/cli';
import { startEmbeddedTemporal, type EmbeddedTemporal } from '../src/embedded/temporal';
import { freeLoopbackPort } from '../src/embedded/processes';
import { rotationWorkflowId, startRotation } from '../src/rotations';
import { VaultKvStore } from '../src/vault';
import { isViolation, type StateReport } from '../src/verify/report';
import { percentiles, pool } from '../bench/measure';
import { historyText } from '../test/helpers/history';
import { httpRelay } from '../test/helpers/http-relay';
import { buildWorker, spawnWorker, type WorkerProcess } from '../test/helpers/worker-process';
import { readMintedValues, valuesFoundIn } from '../test/infra/scan-files';
import { scannedFile } from '../test/infra/secret-scan';
import { testServers } from '../test/infra/test-servers';
import { seededRandom } from '../test/sim/chaos';
import type { RotationStatus } from '../workflows/rotate-credential';
import { chaosWorld } from './world';

export interface ChaosOptions {
  credentials: number;
  rotations: number;
  concurrency: number;
  kills: number;
  vaultOutageSeconds: number;
  seed: number;
  out: string;
}

const options = JSON.parse(process.env.CHAOS_OPTIONS ?? 'null') as ChaosOptions | null;
const log = (line: string) =>
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Tries `call` again while Temporal is away (restarted on purpose), up to `forMs`. */
async function throughOutages<T>(call: () => Promise<T>, forMs = 120_000): Promise<T> {
  const deadline = Date.now() + forMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (error instanceof WorkflowFailedError || Date.now() > deadline) throw error;
      await sleep(1_000);
    }
  }
}

(options === null ? test.skip : test)('chaos', async () => {
  const o = options as ChaosOptions;
  const servers = testServers();
  const runId = randomUUID().slice(0, 8);
  const vault = new VaultKvStore(servers.vault);
  // The workers reach Vault through a relay the run takes down for the outage.
  const vaultRelay = await httpRelay(servers.vault.endpoint);
  const dataDir = mkdtempSync(join(tmpdir(), 'rotator-chaos-temporal-'));
  const temporalOptions = {
    bin: servers.binaries.temporalCli,
    dataDir,
    port: 0,
    uiPort: 0,
    namespace: 'default',
  };
  // A free port can be taken by another process before the server binds it: pick new ones and try again.
  const startTemporal = async (): Promise<EmbeddedTemporal> => {
    for (let attempt = 1; ; attempt += 1) {
      temporalOptions.port = await freeLoopbackPort();
      temporalOptions.uiPort = await freeLoopbackPort();
      try {
        return await startEmbeddedTemporal(temporalOptions);
      } catch (error) {
        if (attempt === 3) throw error;
      }
    }
  };
  let temporal = await startTemporal();
  const world = await chaosWorld(vault, o.credentials, runId);
  log(`${o.credentials} credentials seeded; Temporal at ${temporal.address} (database ${temporal.dbFile})`);

  const build = buildWorker();
  const taskQueue = `chaos-${runId}`;
  const auditLog = (slot: number) => scannedFile('audit', `chaos-${runId}-worker-${slot}.jsonl`);
  const workerEnv = (slot: number) => ({
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    VAULT_ADDR: vaultRelay.url,
    VAULT_TOKEN: servers.vault.token,
    ROTATOR_INVENTORY: world.inventoryPath,
    // One file per worker: a restarted worker continues its own chain.
    ROTATOR_AUDIT_LOG: auditLog(slot),
    LOG_LEVEL: 'warn',
  });
  const workers: WorkerProcess[] = [
    await spawnWorker(build.dir, workerEnv(0)),
    await spawnWorker(build.dir, workerEnv(1)),
  ];
  const events = { workerKills: 0, workerRestarts: 0, temporalRestarts: 0, vaultOutages: 0 };

  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const random = seededRandom(o.seed);
  const faults = { errorRate: 0.1, lostRate: 0.01, maxLatencyMs: 50, retryAfterSeconds: 1 };
  world.gitlab.sim.chaos.set({ ...faults, random });
  world.github.sim.chaos.set({ ...faults, random });

  /** What the run does to the system, at these shares of the rotations done. */
  const disruptions = [
    ...Array.from({ length: o.kills }, (_, k) => ({
      at: (k + 1) / (o.kills + 2),
      run: async () => {
        const slot = Math.floor(random() * workers.length);
        await workers[slot]?.crash();
        events.workerKills += 1;
        await sleep(1_000);
        workers[slot] = await spawnWorker(build.dir, workerEnv(slot));
        events.workerRestarts += 1;
        log(`worker ${slot} killed with SIGKILL and started again`);
      },
    })),
    {
      at: 0.45,
      run: async () => {
        await temporal.stop();
        await sleep(2_000);
        temporal = await startEmbeddedTemporal(temporalOptions);
        events.temporalRestarts += 1;
        log('Temporal dev server killed and started again on its database');
      },
    },
    {
      at: 0.7,
      run: async () => {
        vaultRelay.goDownOn(() => true);
        log(`Vault unavailable for ${o.vaultOutageSeconds}s`);
        await sleep(o.vaultOutageSeconds * 1_000);
        vaultRelay.up();
        events.vaultOutages += 1;
      },
    },
  ].sort((a, b) => a.at - b.at);
  const disrupting: Promise<void>[] = [];
  let done = 0;
  const progressed = () => {
    done += 1;
    while (disruptions[0] !== undefined && done >= disruptions[0].at * o.rotations) {
      const next = disruptions.shift();
      if (next !== undefined) disrupting.push(next.run());
    }
  };

  const outcomes: string[] = [];
  /** Why each rotation that did not end `rotated` ended as it did: messages name steps, never values. */
  const failures: { credentialId: string; message: string }[] = [];
  const durations: number[] = [];
  const result = async (credentialId: string) => {
    try {
      const status = await throughOutages(() =>
        client.workflow.getHandle<() => Promise<RotationStatus>>(rotationWorkflowId(credentialId)).result(),
      );
      outcomes.push(status.outcome ?? 'unknown');
      if (status.outcome !== 'rotated') failures.push({ credentialId, message: status.detail ?? '' });
    } catch (error) {
      const failed = error instanceof WorkflowFailedError;
      outcomes.push(failed ? 'failed or rolled back' : 'not finished');
      failures.push({ credentialId, message: failed ? String(error.cause?.message) : String(error) });
    }
  };

  // One rotate-all first, over every credential, as an incident would.
  log(`rotate-all of ${o.credentials} credentials`);
  const cli = { stdout: () => undefined, stderr: () => undefined };
  await runCli(
    [
      'rotate-all',
      '--selector',
      'environment=chaos',
      '--concurrency',
      '10',
      '--force',
      '--requested-by',
      'chaos',
    ],
    cli,
    {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      ROTATOR_INVENTORY: world.inventoryPath,
    },
  );
  for (const id of world.ids) {
    await result(id);
    progressed();
  }

  // Then manual rotations, a credential at a time each, until the run has made `rotations`.
  const free = [...world.ids];
  const manual = Math.max(0, o.rotations - world.ids.length);
  log(`${manual} manual rotations, ${o.concurrency} at a time, under faults`);
  await pool(manual, o.concurrency, async () => {
    while (free.length === 0) await sleep(50);
    const id = free.shift() as string;
    const started = Date.now();
    try {
      await throughOutages(() =>
        startRotation(client, taskQueue, {
          credentialId: id,
          reason: 'manual',
          requestedBy: 'chaos',
          force: true,
        }),
      );
      await result(id);
      durations.push(Date.now() - started);
    } finally {
      free.push(id);
      progressed();
    }
  });
  await Promise.all(disrupting);
  world.gitlab.sim.chaos.set(undefined);
  world.github.sim.chaos.set(undefined);

  // The invariants, checked by the operator's own command while the workers still answer status queries.
  log('rotator verify-state');
  let verified = '';
  const verifyExit = await runCli(
    [
      'verify-state',
      '--json',
      '--stuck-after',
      '2m',
      ...workers.flatMap((_, slot) => ['--audit-log', auditLog(slot)]),
    ],
    { stdout: (text) => (verified += text), stderr: (text) => log(text.trim()) },
    {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      ROTATOR_INVENTORY: world.inventoryPath,
      VAULT_ADDR: servers.vault.endpoint,
      VAULT_TOKEN: servers.vault.token,
    },
  );
  const state = JSON.parse(verified) as StateReport;
  const verdicts: Record<string, number> = {};
  for (const { verdict } of state.credentials) verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
  const violations = [
    ...state.credentials.flatMap(({ credentialId, violations: found }) =>
      found.map(({ kind, message }) => ({ credentialId, kind, message })),
    ),
    ...state.openRotations
      .filter(isViolation)
      .map(({ credentialId, state: kind, message }) => ({ credentialId, kind, message })),
    ...state.auditLogs.flatMap((check) =>
      check.ok ? [] : [{ credentialId: '', kind: 'audit-log', message: `${check.path}: ${check.problem}` }],
    ),
  ];

  log('searching every history for the minted token values');
  const values = readMintedValues(join(servers.runDir, 'minted-values'));
  let histories = 0;
  const leaks: string[] = [];
  for await (const execution of client.workflow.list()) {
    histories += 1;
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    if (valuesFoundIn(historyText(history), values).length > 0) leaks.push(execution.workflowId);
  }

  const tally: Record<string, number> = {};
  for (const outcome of outcomes) tally[outcome] = (tally[outcome] ?? 0) + 1;
  const report = {
    options: o,
    rotations: outcomes.length,
    outcomes: tally,
    failures,
    faults: { gitlab: world.gitlab.sim.chaos.injected, github: world.github.sim.chaos.injected },
    events,
    verdicts,
    violations,
    orphans: violations.filter(({ kind }) => kind === 'orphan-token').length,
    secrets: { histories, values: values.length, found: leaks.length },
    durationsMs: percentiles(durations),
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);

  for (const worker of workers) await worker.crash();
  await connection.close();
  await temporal.stop();
  await world.close();
  await vaultRelay.close();
  build.remove();

  expect(leaks).toEqual([]);
  expect(violations).toEqual([]);
  expect(verifyExit).toBe(0);
  expect(events.workerKills).toBe(o.kills);
});
