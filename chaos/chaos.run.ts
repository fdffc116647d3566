import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  ActivityFailure,
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
} from '@temporalio/client';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { runCli } from '../src/cli';
import { isNotFound } from '../src/cli/context';
import { SCHEDULE_PREFIX } from '../src/cli/schedules';
import { duration } from '../src/inventory/durations';
import { startEmbeddedTemporal, type EmbeddedTemporal } from '../src/embedded/temporal';
import { freeLoopbackPort } from '../src/embedded/processes';
import { startRotation } from '../src/rotations';
import { rotationWorkflowId } from '../src/rotation-names';
import { ROTATION_OUTCOME } from '../src/search-attributes';
import { VaultKvStore } from '../src/vault';
import { reportFindings, type StateReport } from '../src/verify/report';
import { percentiles } from '../bench/measure';
import { historyText } from '../test/helpers/history';
import { httpRelay } from '../test/helpers/http-relay';
import { buildWorker, spawnWorker, type WorkerProcess } from '../test/helpers/worker-process';
import { describeLeak, readMintedValues, valuesFoundIn } from '../test/infra/scan-files';
import { scannedFile } from '../test/infra/secret-scan';
import { testServers } from '../test/infra/test-servers';
import { seededRandom } from '../test/sim/chaos';
import { statusQuery, type rotateCredential } from '../workflows';
import type { RotationStatus } from '../workflows/status';
import { chaosWorld } from './world';

export interface ChaosOptions {
  credentials: number;
  rotations: number;
  concurrency: number;
  kills: number;
  vaultOutageSeconds: number;
  /** The percentage of credentials (OAuth2 ones aside) kept in AWS Secrets Manager (moto) instead of Vault. */
  awsShare: number;
  awsOutageSeconds: number;
  /** The load's time budget: once spent, no rotation starts, and the run checks what it has done. */
  minutes: number;
  seed: number;
  out: string;
}

/** Who started a rotation: the one rotate-all, the manual load, or a credential's Temporal Schedule. */
type Reason = 'rotate-all' | 'manual' | 'scheduled';

/** How a rotation ended, as the run saw it; messages name steps, never values. */
interface Ended {
  credentialId: string;
  /** The run of `rotate/<credentialId>`, to find its history; absent when the run never learnt it. */
  runId?: string;
  reason: Reason;
  outcome: string;
  detail: string;
  /** Start to close, as Temporal recorded them; absent for a rotation still open. */
  ms?: number;
}

/** A rotation that closed, waits for an operator, or could not be followed to its end. */
type Settled =
  | { kind: 'closed'; status?: RotationStatus; failure?: string }
  | { kind: 'waiting'; status: RotationStatus }
  | { kind: 'lost'; message: string };

/** How often the scheduled share of the credentials rotates: short, so that schedules fire during the load. */
const SCHEDULED_EVERY = '20s';
const SCHEDULED_EVERY_MS = duration.parse(SCHEDULED_EVERY);
/**
 * The ends a person takes over (docs/operations.md, "Terminal states"), and a rotation the run lost track of:
 * the load leaves such a credential alone from then on, as an operator would until they have looked.
 */
const LEAVE_ALONE = new Set(['compromised-or-lost', 'compromised', 'needs-operator', 'not finished']);
/** How long the run waits for one rotation to end, through Temporal restarts and Vault outages. */
const SETTLE_MS = 600_000;

const options = JSON.parse(process.env.CHAOS_OPTIONS ?? 'null') as ChaosOptions | null;
const log = (line: string) =>
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Tries `call` again while Temporal is away (restarted on purpose), up to `forMs`. A failed workflow and a
 * start refused because the rotation runs already are answers, not outages.
 */
async function throughOutages<T>(call: () => Promise<T>, forMs = 120_000): Promise<T> {
  const deadline = Date.now() + forMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const answer =
        error instanceof WorkflowFailedError || error instanceof WorkflowExecutionAlreadyStartedError;
      if (answer || Date.now() > deadline) throw error;
      await sleep(1_000);
    }
  }
}

/**
 * Why a rotation failed: its failure's message, with those of the causes when the workflow failed on a bare
 * activity failure, whose message ("Activity task failed") names no step.
 */
function causes(error: Error | undefined): string {
  if (!(error instanceof ActivityFailure)) return String(error?.message);
  const messages: string[] = [];
  for (
    let at: Error | undefined = error;
    at !== undefined;
    at = at.cause instanceof Error ? at.cause : undefined
  )
    messages.push(at.message);
  return messages.join(': ');
}

const tally = (ends: Ended[]) => {
  const counts: Record<string, number> = {};
  for (const { outcome } of ends) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
};

(options === null ? test.skip : test)('chaos', async () => {
  const o = options as ChaosOptions;
  const startedAt = Date.now();
  const loadEndsBy = startedAt + o.minutes * 60_000;
  const inTime = () => Date.now() < loadEndsBy;
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
  // Secrets Manager, too, behind a relay the run takes down for its own outage. moto checks no signature:
  // these keys let the SDK's default chain sign, in the workers and in verify-state here.
  const awsRelay = await httpRelay(servers.aws.endpoint);
  const awsKeys = { AWS_ACCESS_KEY_ID: 'chaos', AWS_SECRET_ACCESS_KEY: 'chaos' };
  Object.assign(process.env, awsKeys);
  const world = await chaosWorld(vault, o.credentials, runId, SCHEDULED_EVERY, {
    percent: o.awsShare,
    endpoint: awsRelay.url,
    client: new SecretsManagerClient({ region: 'eu-west-1', endpoint: servers.aws.endpoint }),
  });
  log(
    `${o.credentials} credentials seeded, ${world.awsIds.length} of them in AWS Secrets Manager; ` +
      `Temporal at ${temporal.address} (database ${temporal.dbFile})`,
  );

  const build = buildWorker();
  const taskQueue = `chaos-${runId}`;
  const auditLog = (slot: number) => scannedFile('audit', `chaos-${runId}-worker-${slot}.jsonl`);
  const metricsPorts: number[] = [];
  const workerEnv = async (slot: number) => {
    metricsPorts[slot] = await freeLoopbackPort();
    return {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      VAULT_ADDR: vaultRelay.url,
      VAULT_TOKEN: servers.vault.token,
      ...awsKeys,
      ROTATOR_INVENTORY: world.inventoryPath,
      // One file per worker: a restarted worker continues its own chain.
      ROTATOR_AUDIT_LOG: auditLog(slot),
      // Its own port, so that each worker's metrics can be scraped for the secret search.
      METRICS_PORT: String(metricsPorts[slot]),
      // Info, not warn: every line a worker writes in production is searched for token values.
      LOG_LEVEL: 'info',
    };
  };
  /** Every worker process of the run, killed ones included, for the search of their output. */
  const everyWorker: WorkerProcess[] = [];
  const startWorker = async (slot: number) => {
    const worker = await spawnWorker(build.dir, await workerEnv(slot));
    everyWorker.push(worker);
    return worker;
  };
  const workers: WorkerProcess[] = [await startWorker(0), await startWorker(1)];
  /** Each scrape of a worker's Prometheus endpoint, kept in the run's folder for the suite's scan too. */
  const scrapes: string[] = [];
  const scrape = async (slot: number) => {
    try {
      const response = await fetch(`http://127.0.0.1:${metricsPorts[slot]}/metrics`);
      const text = await response.text();
      scrapes.push(text);
      writeFileSync(scannedFile('metrics', `chaos-${runId}-worker-${slot}-${scrapes.length}.prom`), text);
    } catch (error) {
      log(`worker ${slot}'s metrics could not be scraped: ${String(error)}`);
    }
  };
  const events = { workerKills: 0, workerRestarts: 0, temporalRestarts: 0, vaultOutages: 0, awsOutages: 0 };

  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const random = seededRandom(o.seed);
  const faults = { errorRate: 0.1, lostRate: 0.01, maxLatencyMs: 50, retryAfterSeconds: 1 };
  world.gitlab.sim.chaos.set({ ...faults, random });
  world.github.sim.chaos.set({ ...faults, random });
  world.oauth2.chaos.set({ ...faults, random });
  const cliEnv = {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ROTATOR_INVENTORY: world.inventoryPath,
  };
  const quiet = { stdout: () => undefined, stderr: () => undefined };

  /** What the run does to the system, at these shares of the rotations done. */
  const disruptions = [
    ...Array.from({ length: o.kills }, (_, k) => ({
      at: (k + 1) / (o.kills + 2),
      run: async () => {
        const slot = Math.floor(random() * workers.length);
        // What it exposed until now is searched too: a killed worker's counters are gone with it.
        await scrape(slot);
        await workers[slot]?.crash();
        events.workerKills += 1;
        await sleep(1_000);
        workers[slot] = await startWorker(slot);
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
    ...(world.awsIds.length === 0
      ? []
      : [
          {
            at: 0.6,
            run: async () => {
              awsRelay.goDownOn(() => true);
              log(`AWS Secrets Manager unavailable for ${o.awsOutageSeconds}s`);
              await sleep(o.awsOutageSeconds * 1_000);
              awsRelay.up();
              events.awsOutages += 1;
            },
          },
        ]),
  ].sort((a, b) => a.at - b.at);
  const disrupting: Promise<void>[] = [];

  const ends: Ended[] = [];
  /** A scheduled rotation that found its credential not due rotated nothing: it does not count. */
  const counted = () => ends.filter(({ outcome }) => outcome !== 'not-due').length;
  const leftAlone = new Map<string, string>();
  const scheduled = new Set(world.scheduledIds);
  const pausing: Promise<unknown>[] = [];
  const record = (end: Ended) => {
    ends.push(end);
    if (LEAVE_ALONE.has(end.outcome) && !leftAlone.has(end.credentialId)) {
      leftAlone.set(end.credentialId, end.outcome);
      log(`${end.credentialId} ended ${end.outcome} (${end.reason}): left alone from now on`);
      // Its schedule would rotate it again: paused as an operator would, with the CLI.
      if (scheduled.has(end.credentialId)) {
        pausing.push(
          throughOutages(async () => {
            const argv = ['schedules', 'pause', end.credentialId, '--requested-by', 'chaos'];
            const exit = await runCli(argv, quiet, cliEnv);
            if (exit !== 0) throw new Error(`rotator ${argv.join(' ')} exited ${exit}`);
          }),
        );
      }
    }
    while (disruptions[0] !== undefined && counted() >= disruptions[0].at * o.rotations) {
      const next = disruptions.shift();
      if (next !== undefined) disrupting.push(next.run());
    }
  };

  /**
   * Waits for one rotation to end, or to wait for an operator (it would wait for ever), and records how it
   * ended: its outcome as the workflow listed it (search attribute RotationOutcome), and its duration.
   */
  const settle = async (credentialId: string, runId: string | undefined, reason: Reason) => {
    const handle = client.workflow.getHandle<typeof rotateCredential>(
      rotationWorkflowId(credentialId),
      runId,
    );
    let settled = false;
    // Ends the wait for a result that will not come (a rotation waiting for an operator), so that no call is
    // left on the connection when the run closes it.
    const abandon = new AbortController();
    const closed: Promise<Settled> = throughOutages(
      () =>
        abandon.signal.aborted
          ? Promise.resolve<Settled>({ kind: 'lost', message: 'abandoned: it waits for an operator' })
          : connection.withAbortSignal(abandon.signal, () =>
              handle.result().then(
                (status): Settled => ({ kind: 'closed', status }),
                (error: unknown): Settled => {
                  if (error instanceof WorkflowFailedError)
                    return { kind: 'closed', failure: causes(error.cause) };
                  throw error;
                },
              ),
            ),
      SETTLE_MS,
    ).catch((error: unknown): Settled => ({ kind: 'lost', message: String(error) }));
    const operatorWait = async (): Promise<Settled> => {
      while (!settled) {
        await sleep(3_000);
        // Unanswered while no worker runs, or Temporal restarts: asked again later. Abandoned with the wait,
        // so that no query is left on the connection when the run closes it (grpc-js would retry it on a
        // closed channel once Temporal stops, and throw from a timer).
        const status = await connection
          .withAbortSignal(abandon.signal, () => handle.query(statusQuery))
          .catch(() => undefined);
        if (status?.phase === 'needs-operator') return { kind: 'waiting', status };
      }
      return closed;
    };
    const first = await Promise.race([closed, operatorWait()]);
    settled = true;
    abandon.abort();
    if (first.kind === 'waiting') {
      // It has not ended, so it has no detail yet: its last failed step says why it waits.
      const failure = first.status.failures.at(-1);
      const detail = failure === undefined ? '' : `${failure.step}: ${failure.message}`;
      record({
        credentialId,
        ...(runId === undefined ? {} : { runId }),
        reason,
        outcome: 'needs-operator',
        detail: first.status.detail ?? detail,
      });
      return;
    }
    if (first.kind === 'lost') {
      record({
        credentialId,
        ...(runId === undefined ? {} : { runId }),
        reason,
        outcome: 'not finished',
        detail: first.message,
      });
      return;
    }
    const described = await throughOutages(() => handle.describe()).catch(() => undefined);
    const ms =
      described?.closeTime === undefined
        ? undefined
        : described.closeTime.getTime() - described.startTime.getTime();
    const listed = described?.typedSearchAttributes.get(ROTATION_OUTCOME);
    const { status, failure } = first;
    const run = described?.runId ?? runId;
    record({
      credentialId,
      ...(run === undefined ? {} : { runId: run }),
      reason,
      // A workflow that failed before it listed an outcome is told apart from one that ended `failed`.
      outcome: status?.outcome ?? listed ?? 'failed, no outcome listed',
      detail: failure ?? (status?.outcome === 'rotated' ? '' : (status?.detail ?? '')),
      ...(ms === undefined ? {} : { ms }),
    });
  };

  // One rotate-all first, over every credential, as an incident would. Its children are followed one by one,
  // so that one waiting for an operator does not hold the run, as it holds the CLI.
  log(`rotate-all of ${o.credentials} credentials`);
  const rotateAll = runCli(
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
    quiet,
    cliEnv,
  );
  await Promise.all(
    world.ids.map(async (id) => {
      for (;;) {
        const started = await client.workflow
          .getHandle(rotationWorkflowId(id))
          .describe()
          .catch(() => undefined);
        if (started !== undefined) return settle(id, started.runId, 'rotate-all');
        await sleep(1_000);
      }
    }),
  );
  await Promise.race([rotateAll, sleep(5_000)]);

  // The schedules, from the inventory, by the operator's command: the scheduled share fires every 20 s.
  const syncedAt = new Date();
  const syncExit = await runCli(['schedules', 'sync'], quiet, cliEnv);
  log(`rotator schedules sync (exit ${syncExit}): ${scheduled.size} credentials every ${SCHEDULED_EVERY}`);
  /** The rotations the schedules started, found in visibility by their parent, each settled once. */
  const seenScheduled = new Set<string>();
  const scheduledEnds: Promise<void>[] = [];
  const findScheduled = async () => {
    const query = `WorkflowType = 'rotateCredential' AND StartTime > '${syncedAt.toISOString()}'`;
    for await (const execution of client.workflow.list({ query })) {
      if (seenScheduled.has(execution.runId)) continue;
      if (execution.parentExecution?.workflowId?.startsWith(SCHEDULE_PREFIX) !== true) continue;
      seenScheduled.add(execution.runId);
      const credentialId = execution.workflowId.slice(rotationWorkflowId('').length);
      scheduledEnds.push(settle(credentialId, execution.runId, 'scheduled'));
    }
  };
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      // Visibility is away while Temporal restarts: looked at again in a moment.
      await findScheduled().catch(() => undefined);
      await sleep(2_000);
    }
  })();

  // Then manual rotations of the other credentials, each one at a time, until the run has made `rotations`.
  const free = world.ids.filter((id) => !scheduled.has(id) && !leftAlone.has(id));
  let manualInFlight = 0;
  log(`manual rotations of ${free.length} credentials, ${o.concurrency} at a time, under faults`);
  const lane = async () => {
    while (counted() + manualInFlight < o.rotations && inTime()) {
      const id = free.shift();
      if (id === undefined) {
        if (manualInFlight === 0) return;
        await sleep(50);
        continue;
      }
      manualInFlight += 1;
      try {
        const handle = await throughOutages(() =>
          startRotation(client, taskQueue, {
            credentialId: id,
            reason: 'manual',
            requestedBy: 'chaos',
            force: true,
          }),
        ).catch((error: unknown) => {
          // Started already, its answer lost in a Temporal restart: the running one is this start's.
          if (error instanceof WorkflowExecutionAlreadyStartedError) return undefined;
          throw error;
        });
        await settle(id, handle?.firstExecutionRunId, 'manual');
      } finally {
        manualInFlight -= 1;
        if (!leftAlone.has(id)) free.push(id);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, lane));
  // A short load can end before the first schedule fires: the schedules get up to two intervals more.
  const scheduleDeadline = Date.now() + 2 * SCHEDULED_EVERY_MS;
  while (!ends.some(({ reason }) => reason === 'scheduled') && Date.now() < scheduleDeadline && inTime())
    await sleep(1_000);
  if (counted() < o.rotations) {
    log(`the manual load ran out of credentials (${leftAlone.size} left alone); the schedules go on`);
    const scheduling = () => [...scheduled].some((id) => !leftAlone.has(id));
    while (counted() < o.rotations && scheduling() && inTime()) await sleep(1_000);
  }

  // Nothing may start while verify-state checks: every schedule goes, then the rotations they started end.
  log('deleting every schedule; waiting for the scheduled rotations under way');
  await throughOutages(async () => {
    for await (const summary of client.schedule.list()) {
      await client.schedule
        .getHandle(summary.scheduleId)
        .delete()
        .catch((error: unknown) => {
          // Listed, but deleted already by an earlier try: visibility lags behind.
          if (!isNotFound(error)) throw error;
        });
    }
  });
  await sleep(2_000);
  watching = false;
  await watcher;
  await throughOutages(findScheduled);
  await Promise.all(scheduledEnds);
  await Promise.all(pausing);
  await Promise.all(disrupting);
  world.gitlab.sim.chaos.set(undefined);
  world.github.sim.chaos.set(undefined);
  world.oauth2.chaos.set(undefined);

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
    { ...cliEnv, VAULT_ADDR: servers.vault.endpoint, VAULT_TOKEN: servers.vault.token },
  );
  const state = JSON.parse(verified) as StateReport;
  const { verdicts, violations } = reportFindings(state);

  // The values to search for: what the simulators minted, every token the authorization server answered
  // (and the OAuth2 credentials' tokens as Vault holds them now), and the client secret.
  for (const at of world.oauth2.vaults) {
    const { data } = await vault.read(at);
    for (const field of ['token', 'accessToken', 'refreshToken']) {
      const value = data[field];
      if (value !== undefined) world.oauth2.values.add(value);
    }
  }
  const values = [
    ...new Set([...readMintedValues(join(servers.runDir, 'minted-values')), ...world.oauth2.values]),
  ];
  log(`searching every history, worker output, audit log and metrics scrape for ${values.length} values`);
  for (const slot of workers.keys()) await scrape(slot);
  const leaks: string[] = [];
  const search = (where: string, text: string) => {
    const found = valuesFoundIn(text, values);
    if (found.length > 0) leaks.push(describeLeak(where, found));
  };
  let histories = 0;
  for await (const execution of client.workflow.list()) {
    histories += 1;
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    search(`workflow ${execution.workflowId}/${execution.runId}`, historyText(history));
  }
  for (const [index, worker] of everyWorker.entries())
    search(`worker process ${index}'s output`, worker.output());
  let auditEntries = 0;
  for (const slot of workers.keys()) {
    const text = readFileSync(auditLog(slot), 'utf8');
    auditEntries += text.split('\n').filter((line) => line !== '').length;
    search(auditLog(slot), text);
  }
  for (const [index, text] of scrapes.entries()) search(`metrics scrape ${index + 1}`, text);

  const rotated = ends.filter(({ outcome }) => outcome !== 'not-due');
  const byReason = (reason: Reason) => tally(ends.filter((end) => end.reason === reason));
  const timed = (list: Ended[]) => percentiles(list.flatMap(({ ms }) => (ms === undefined ? [] : [ms])));
  const report = {
    options: o,
    durationSeconds: Math.round((Date.now() - startedAt) / 1000),
    /** Whether the load stopped at `--rotations`, or early at the end of its `--minutes`. */
    loadStopped: counted() >= o.rotations ? 'rotations reached' : 'time budget spent',
    rotations: rotated.length,
    outcomes: tally(rotated),
    byReason: {
      'rotate-all': byReason('rotate-all'),
      manual: byReason('manual'),
      scheduled: byReason('scheduled'),
    },
    scheduled: { credentials: scheduled.size, every: SCHEDULED_EVERY, syncExit },
    leftAlone: Object.fromEntries(leftAlone),
    /** The credentials kept in AWS Secrets Manager, and how their rotations ended. */
    aws: {
      credentials: world.awsIds.length,
      outcomes: tally(rotated.filter(({ credentialId }) => world.awsIds.includes(credentialId))),
    },
    failures: ends
      .filter(({ outcome }) => outcome !== 'rotated' && outcome !== 'not-due')
      .map(({ credentialId, runId: run, reason, outcome, detail }) => ({
        credentialId,
        workflowId: rotationWorkflowId(credentialId),
        runId: run,
        reason,
        outcome,
        message: detail,
      })),
    faults: {
      gitlab: world.gitlab.sim.chaos.injected,
      github: world.github.sim.chaos.injected,
      oauth2: world.oauth2.chaos.injected,
    },
    /** Calls that reached the authorization server's relay, to read its fault counts against. */
    oauth2Calls: world.oauth2.relay.requests.length,
    events,
    verdicts,
    violations,
    orphans: violations.filter(({ kind }) => kind === 'orphan-token').length,
    secrets: {
      histories,
      logs: everyWorker.length,
      auditEntries,
      metrics: scrapes.length,
      values: values.length,
      /** Of them, the tokens the authorization server issued, which no minted-values file holds. */
      oauth2Values: world.oauth2.values.size,
      found: leaks.length,
      leaks,
    },
    durationsMs: {
      all: timed(rotated),
      'rotate-all': timed(rotated.filter(({ reason }) => reason === 'rotate-all')),
      manual: timed(rotated.filter(({ reason }) => reason === 'manual')),
      scheduled: timed(rotated.filter(({ reason }) => reason === 'scheduled')),
    },
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);

  // The CLI's rotate-all ends with its last child; left running, its calls would outlive Temporal.
  await Promise.race([rotateAll, sleep(30_000)]);
  for (const worker of workers) await worker.crash();
  // The run's connection stays open until the process ends (jest's forceExit). A call still under way on it
  // when Temporal stops (a status query or a result the run stopped waiting for) fails UNAVAILABLE, and the
  // client's retry interceptor retries it after a backoff: on a closed channel grpc-js throws from that timer.
  await temporal.stop();
  await world.close();
  await vaultRelay.close();
  await awsRelay.close();
  build.remove();

  expect(leaks).toEqual([]);
  expect(violations).toEqual([]);
  expect(verifyExit).toBe(0);
  expect(syncExit).toBe(0);
  expect(events.workerKills).toBe(o.kills);
  expect(events.awsOutages).toBe(world.awsIds.length === 0 ? 0 : 1);
  // A load cut short by its time budget is reported as such; the invariants hold either way.
  expect(report.loadStopped === 'time budget spent' || report.rotations >= o.rotations).toBe(true);
  expect(report.byReason.scheduled).not.toEqual({});
});
