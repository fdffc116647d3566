/*
 * `npm run chaos -- --topology production`: the chaos run on the production topology (topology/, docs/
 * topology.md) instead of the dev servers. Manual rotations of the sandbox's credentials run under load while
 * the faults only the topology can show happen one after the other: PostgreSQL restarted, Vault sealed then
 * unsealed with its key shares, the Temporal server restarted while rotations wait out their overlap, and one
 * worker started again with an expired mTLS certificate (it must fail loudly; the other carries on). Then the
 * checks of the dev-server run: verify-state's verdicts, and a search of every history, log, audit log and
 * metrics scrape for every token value. Writes the report as JSON and exits 1 on any violation or leak.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startRotation } from '../src/rotations';
import { vaultSecretOf } from '../src/stores';
import { parseOrThrow } from '../src/validation';
import { reportFindings } from '../src/verify/report';
import { rotationWorkflowId } from '../src/rotation-names';
import { statusQuery } from '../workflows';
import { percentiles } from '../bench/measure';
import { historyText } from '../test/helpers/history';
import { describeLeak, valuesFoundIn } from '../test/infra/scan-files';
import { issueCertificate } from '../topology/certificates';
import { verifyTopology } from '../topology/check';
import { hasExited } from '../src/embedded/processes';
import { startTopology, type Topology } from '../topology/topology';
import { sealVault, unsealVault } from '../topology/vault';

const count = (min: number) =>
  z.string().regex(/^\d+$/, 'expected a whole number').transform(Number).pipe(z.number().int().min(min));
const optionsSchema = z
  .object({
    topology: z.literal('production'),
    /** The sandbox's inventory has four credentials: more cannot be asked for. */
    credentials: count(1).pipe(z.number().max(4, 'the sandbox has 4 credentials')).default(4),
    rotations: count(4).default(20),
    concurrency: count(1).default(3),
    vaultSealedSeconds: count(0).default(60),
    dir: z.string().min(1).default('.cache/topology-chaos'),
    out: z.string().min(1).default('chaos/results/topology.json'),
  })
  .strict();
type Options = z.output<typeof optionsSchema>;

interface Rotation {
  credentialId: string;
  outcome: string;
  startedAt: number;
  endedAt: number;
}

interface Fault {
  name: string;
  startedAt: number;
  endedAt: number;
  detail: string;
}

const log = (line: string) =>
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
/** How long one call is tried again through a fault: longer than the longest seal a run asks for. */
const THROUGH_FAULTS_MS = 600_000;

/** Set once a fault could not be undone (a server that did not come back): every wait ends then. */
let broken: Error | undefined;

/** Tries `call` again every second while a server is away (restarted or sealed on purpose). */
async function throughFaults<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + THROUGH_FAULTS_MS;
  for (;;) {
    if (broken !== undefined) throw broken;
    try {
      return await call();
    } catch (error) {
      if (error instanceof Fatal || Date.now() > deadline) throw error;
      await sleep(1_000);
    }
  }
}

/**
 * Resolves once the Temporal frontend answers the operator's client again; throws, with the end of its log,
 * once the server has exited (it does not retry a database it cannot reach at start).
 */
const temporalAnswers = (topology: Topology) =>
  throughFaults(async () => {
    const { service } = topology.temporal;
    if (hasExited(service.child))
      throw new Fatal(
        `the Temporal server exited (${service.child.exitCode ?? service.child.signalCode}): ${lastLines(service.logFile)}`,
      );
    return topology.client.workflowService.getSystemInfo({});
  });

/** An error that trying again cannot mend. */
class Fatal extends Error {}

const lastLines = (file: string, count = 3) =>
  readFileSync(file, 'utf8').trim().split('\n').slice(-count).join(' | ').slice(0, 600);

/**
 * The faults, in order, each at a share of the rotations done. `inFlight` names the rotations under way, so
 * that the Temporal restart waits until one of them waits out its overlap.
 */
function faultsOf(topology: Topology, options: Options, inFlight: Set<string>) {
  const worker = topology.workers[1];
  return [
    {
      at: 0.2,
      name: 'PostgreSQL restarted',
      run: async () => {
        await topology.restart(topology.postgres.service);
        await temporalAnswers(topology);
        return `pid ${topology.postgres.service.child.pid}; Temporal answered again`;
      },
    },
    {
      at: 0.4,
      name: 'Temporal server restarted during overlap timers',
      run: async () => {
        const deadline = Date.now() + 60_000;
        let overlapping: string | undefined;
        while (overlapping === undefined && Date.now() < deadline) {
          for (const id of inFlight) {
            const status = await topology.client.workflow
              .getHandle(rotationWorkflowId(id))
              .query(statusQuery)
              .catch(() => undefined);
            if (status?.phase === 'overlapping') overlapping = id;
          }
          if (overlapping === undefined) await sleep(500);
        }
        await topology.restart(topology.temporal.service);
        await temporalAnswers(topology);
        return overlapping === undefined
          ? 'no rotation was overlapping within 60 s: restarted anyway'
          : `${overlapping} was waiting out its overlap`;
      },
    },
    {
      at: 0.6,
      name: `Vault sealed for ${options.vaultSealedSeconds}s`,
      run: async () => {
        await sealVault(topology.vault, topology.certificates.caFile);
        await sleep(options.vaultSealedSeconds * 1_000);
        await unsealVault(topology.vault);
        return 'vault operator seal, then unsealed with 2 of 3 key shares';
      },
    },
    {
      at: 0.8,
      name: `${worker?.name ?? 'a worker'} restarted with an expired mTLS certificate`,
      run: async () => {
        if (worker === undefined) return 'only one worker: nothing to expire';
        const expired = await issueCertificate(
          dirname(topology.certificates.caFile),
          `${worker.name}-expired`,
          'clientAuth',
          '-1',
        );
        await topology.restart(worker.service, {
          TEMPORAL_TLS_CERT: expired.certFile,
          TEMPORAL_TLS_KEY: expired.keyFile,
        });
        const deadline = Date.now() + 120_000;
        while (!hasExited(worker.service.child) && Date.now() < deadline) await sleep(1_000);
        const child = worker.service.child;
        const errors = readFileSync(worker.service.logFile, 'utf8')
          .split('\n')
          // Its last fatal or error line: what an operator reading the log sees first.
          .filter((line) => /"level":"(fatal|error)"/.test(line));
        return hasExited(child)
          ? `exited ${child.exitCode ?? child.signalCode}; its log: ${errors.at(-1)?.slice(0, 300) ?? 'no error logged'}`
          : `STILL RUNNING after 120 s; errors in its log: ${errors.length}`;
      },
    },
  ];
}

async function chaos(options: Options): Promise<number> {
  const started = Date.now();
  const topology = await startTopology({ dir: resolve(options.dir), workers: 2, progress: log });
  try {
    const { client, inventory, operatorVault, taskQueue } = topology;
    const ids = inventory.credentials.slice(0, options.credentials).map(({ id }) => id);
    /** Every token value the run has seen in Vault or the simulators: none may appear anywhere else. */
    const values = new Set<string>();
    const readToken = async (id: string) => {
      const credential = inventory.credentials.find((c) => c.id === id);
      const at = credential === undefined ? undefined : vaultSecretOf(credential.store);
      if (at === undefined) throw new Error(`${id} is not kept in Vault`);
      const token = (await throughFaults(() => operatorVault.read(at))).data.token;
      if (token !== undefined) values.add(token);
    };
    for (const id of ids) await readToken(id);

    const inFlight = new Set<string>();
    const faults = faultsOf(topology, options, inFlight);
    const happened: Fault[] = [];
    // One fault at a time: each begins once the one before has ended (a Temporal server restarted while
    // PostgreSQL restarts exits at start), so that each one's delays are its own.
    let faulting: Promise<void> = Promise.resolve();
    const rotations: Rotation[] = [];
    const onRotated = () => {
      while (faults[0] !== undefined && rotations.length >= faults[0].at * options.rotations) {
        const fault = faults.shift();
        if (fault === undefined) break;
        faulting = faulting.then(() => {
          log(`fault: ${fault.name}`);
          const startedAt = Date.now();
          return fault.run().then(
            (detail) => {
              happened.push({ name: fault.name, startedAt, endedAt: Date.now(), detail });
              log(`fault over: ${fault.name}: ${detail}`);
            },
            (error: unknown) => {
              happened.push({
                name: fault.name,
                startedAt,
                endedAt: Date.now(),
                detail: `FAILED: ${String(error)}`,
              });
              log(`fault failed: ${fault.name}: ${String(error)}`);
              if (error instanceof Fatal) broken = error;
            },
          );
        });
      }
    };

    let begun = 0;
    const rotationsOf = new Map(ids.map((id) => [id, 0]));
    const lane = async () => {
      while (begun < options.rotations && broken === undefined) {
        // The least rotated credential not under way: a quick one (no overlap) does not take every turn.
        const [id] = ids
          .filter((candidate) => !inFlight.has(candidate))
          .sort((a, b) => (rotationsOf.get(a) ?? 0) - (rotationsOf.get(b) ?? 0));
        if (id === undefined) {
          await sleep(200);
          continue;
        }
        begun += 1;
        rotationsOf.set(id, (rotationsOf.get(id) ?? 0) + 1);
        inFlight.add(id);
        const startedAt = Date.now();
        try {
          const handle = await throughFaults(() =>
            startRotation(client, taskQueue, {
              credentialId: id,
              reason: 'manual',
              requestedBy: 'chaos',
              force: true,
            }),
          );
          // A result lost to a restart is asked for again; a failed workflow names its outcome in its status.
          const outcome = await throughFaults(() =>
            handle.result().then(
              (result) => result.outcome as string,
              async (error: unknown) => {
                const status = await handle.query(statusQuery).catch(() => undefined);
                if (status?.outcome !== undefined) return status.outcome as string;
                throw error;
              },
            ),
          ).catch((error: unknown) => `not finished: ${String(error).slice(0, 200)}`);
          rotations.push({ credentialId: id, outcome, startedAt, endedAt: Date.now() });
          await readToken(id);
        } finally {
          inFlight.delete(id);
        }
        onRotated();
      }
    };
    log(`${options.rotations} rotations of ${ids.length} credentials, ${options.concurrency} at a time`);
    await Promise.all(Array.from({ length: Math.min(options.concurrency, ids.length) }, lane));
    await faulting;

    log('verify-state');
    const state = await throughFaults(() => verifyTopology(topology));
    const { verdicts, violations } = reportFindings(state);

    // The values: what the simulators minted (admin tokens too) and every token Vault held during the run.
    for (const value of topology.gitlab.state.minted) values.add(value);
    for (const value of topology.github.state.tokens.keys()) values.add(value);
    const searched = [...values];
    log(`searching every history, log, audit log and metrics scrape for ${searched.length} values`);
    const leaks: string[] = [];
    const search = (where: string, text: string) => {
      const found = valuesFoundIn(text, searched);
      if (found.length > 0) leaks.push(describeLeak(where, found));
    };
    let histories = 0;
    for await (const execution of client.workflow.list()) {
      histories += 1;
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      search(`workflow ${execution.workflowId}/${execution.runId}`, historyText(history));
    }
    const logs = [
      ...topology.workers.map((worker) => worker.service.logFile),
      topology.temporal.service.logFile,
      topology.postgres.service.logFile,
      topology.vault.service.logFile,
    ];
    for (const file of logs) search(file, readFileSync(file, 'utf8'));
    let auditEntries = 0;
    for (const file of [...topology.workers.map((worker) => worker.auditLog), topology.vault.auditLog]) {
      const text = readFileSync(file, 'utf8');
      auditEntries += text.split('\n').filter((line) => line !== '').length;
      search(file, text);
    }
    let metrics = 0;
    for (const worker of topology.workers) {
      if (hasExited(worker.service.child)) continue;
      const text = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
      metrics += 1;
      search(`${worker.name}'s metrics`, text);
    }

    const ms = (list: Rotation[]) => percentiles(list.map((r) => r.endedAt - r.startedAt));
    const during = (fault: Fault) =>
      rotations.filter((r) => r.startedAt < fault.endedAt && r.endedAt > fault.startedAt);
    const untouched = rotations.filter((r) => happened.every((fault) => !during(fault).includes(r)));
    const outcomes: Record<string, number> = {};
    for (const { outcome } of rotations) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    const expiredWorker = happened.find((fault) => fault.name.includes('expired'));
    const failedLoudly = expiredWorker?.detail.startsWith('exited') === true;
    const report = {
      options,
      durationSeconds: Math.round((Date.now() - started) / 1000),
      topologyStartSeconds: topology.startSeconds,
      rotations: rotations.length,
      outcomes,
      faults: happened.map((fault) => ({
        fault: fault.name,
        seconds: Math.round((fault.endedAt - fault.startedAt) / 100) / 10,
        detail: fault.detail,
        /** Rotations under way while the fault lasted, and their durations against the untouched ones'. */
        rotationsDelayed: during(fault).length,
        durationsMs: ms(during(fault)),
      })),
      verdicts,
      violations,
      secrets: {
        histories,
        logs: logs.length,
        auditEntries,
        metrics,
        values: searched.length,
        found: leaks.length,
        leaks,
      },
      durationsMs: { all: ms(rotations), untouchedByFaults: ms(untouched) },
    };
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    const problems = [
      ...(leaks.length > 0 ? [`${leaks.length} leak(s)`] : []),
      ...(violations.length > 0 ? [`${violations.length} violation(s)`] : []),
      ...(failedLoudly ? [] : ['the worker with the expired certificate did not exit']),
      ...(happened.some((fault) => fault.detail.startsWith('FAILED')) ? ['a fault could not be made'] : []),
      ...(broken === undefined ? [] : [`the run stopped early: ${broken.message}`]),
      ...(rotations.some((r) => r.outcome.startsWith('not finished')) ? ['a rotation did not finish'] : []),
    ];
    log(
      problems.length === 0
        ? 'chaos on the topology: OK'
        : `chaos on the topology: FAILED: ${problems.join('; ')}`,
    );
    return problems.length === 0 ? 0 : 1;
  } finally {
    await topology.stop();
  }
}

if (require.main === module) {
  const { values } = parseArgs({
    options: Object.fromEntries(
      ['topology', 'credentials', 'rotations', 'concurrency', 'vault-sealed-seconds', 'dir', 'out'].map(
        (name) => [name, { type: 'string' as const }],
      ),
    ),
  });
  const camel = Object.fromEntries(
    Object.entries(values).map(([name, value]) => [
      name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
      value,
    ]),
  );
  chaos(parseOrThrow(optionsSchema, camel, 'the options of npm run chaos -- --topology')).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
