/*
 * The production topology on this machine (`npm run topology`, docs/topology.md): PostgreSQL, the Temporal
 * server on it with mTLS on its frontend, Vault in server mode over TLS, and two worker processes logging in
 * with AppRole and encrypting payloads, rotating the sandbox's inventory against the GitLab and GitHub
 * simulators. Runs in the foreground until Ctrl-C; with --check it rotates every credential, checks the
 * outcome, stops, and exits 1 on any failure.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseOrThrow } from '../src/validation';
import { runCheck, type CheckReport } from './check';
import { startTopology, type Topology } from './topology';

const optionsSchema = z
  .object({
    check: z.boolean().default(false),
    dir: z.string().min(1).default('.cache/topology'),
    workers: z
      .string()
      .regex(/^[1-8]$/, 'expected 1 to 8')
      .default('2')
      .transform(Number),
  })
  .strict();

/** A check cut short by Ctrl-C fails, as a shell reports a command ended by SIGINT. */
const INTERRUPTED = 130;

const progress = (message: string) => process.stderr.write(`[topology] ${message}\n`);

/** Where each part is: what an operator needs to reach it, never a secret (those are in files named here). */
function describe(topology: Topology): string {
  const { postgres, temporal, vault, workers, certificates } = topology;
  const lines = [
    `PostgreSQL      127.0.0.1:${postgres.port} (runs as ${postgres.osUser}; data ${postgres.dataDir}; log ${postgres.service.logFile})`,
    `Temporal        ${temporal.address} (mTLS; namespace ${temporal.namespace}; config ${temporal.configFile}; log ${temporal.service.logFile})`,
    `                internal ports ${Object.entries(temporal.ports)
      .map(([name, port]) => `${name.toLowerCase()}=${port}`)
      .join(' ')}`,
    `Vault           ${vault.address} (TLS, raft; log ${vault.service.logFile}; audit ${vault.auditLog})`,
    `                unseal keys and root token: ${vault.initFile} (0600)`,
    `GitLab (sim)    ${topology.gitlab.url}`,
    `GitHub (sim)    ${topology.github.url}`,
    ...workers.map(
      (worker) =>
        `${worker.name.padEnd(16)}pid ${worker.service.child.pid}; health http://127.0.0.1:${worker.healthPort}/readyz; metrics :${worker.metricsPort}; log ${worker.service.logFile}; audit ${worker.auditLog}`,
    ),
    `certificates    ${certificates.caFile} (CA) and the other *.pem/*.key beside it`,
    `inventory       ${topology.inventoryFile}`,
    `CLI settings    ${topology.cliEnvFile}: set -a; . ${topology.cliEnvFile}; set +a; npm run rotator -- status`,
    `started in      ${Object.entries(topology.startSeconds)
      .map(([part, seconds]) => `${part} ${seconds.toFixed(1)}s`)
      .join(', ')}`,
  ];
  return `${lines.join('\n')}\n`;
}

function describeCheck(report: CheckReport): string {
  const rows = report.rotations.map(
    (r) =>
      `  ${r.credentialId.padEnd(24)} ${r.outcome.padEnd(12)} ${r.seconds.toFixed(1).padStart(6)}s  ${r.newValueEverywhere ? 'new value in Vault and every CI variable' : 'VALUE NOT UPDATED'}; ${r.payloads.encrypted}/${r.payloads.total} payloads encrypted`,
  );
  const logs = report.verifyState.auditLogs.map((log) =>
    log.ok
      ? `  audit log ${log.path}: intact, ${log.entries} entries`
      : `  audit log ${log.path}: BROKEN: ${log.problem}`,
  );
  const verdicts = report.verifyState.credentials.map(
    (c) => `  verify-state ${c.credentialId}: ${c.verdict} (${c.reason})`,
  );
  const refusals = report.refusals.map((r) => `  ${r.refused ? 'refused' : 'NOT REFUSED'}: ${r.what}`);
  return [
    `check: ${report.rotations.length} rotations in ${report.seconds.toFixed(1)}s`,
    ...rows,
    ...verdicts,
    ...logs,
    ...refusals,
    report.ok ? 'check: OK' : `check: FAILED\n${report.problems.map((p) => `  ${p}`).join('\n')}`,
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { check: { type: 'boolean' }, dir: { type: 'string' }, workers: { type: 'string' } },
  });
  const options = parseOrThrow(optionsSchema, values, 'the options of npm run topology');
  // Listened for from the start: a Ctrl-C while the servers start would otherwise end the tooling and leave
  // them running in their own process groups. It takes effect once the start has completed (or failed).
  const interrupted = new Promise<'interrupted'>((resolveSignal) => {
    const onSignal = () => {
      progress('interrupted: stopping once every part has started');
      resolveSignal('interrupted');
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  const started = Date.now();
  const topology = await startTopology({ dir: resolve(options.dir), workers: options.workers, progress });
  const total = (Date.now() - started) / 1000;
  process.stdout.write(describe(topology));
  progress(`up in ${total.toFixed(1)}s`);
  try {
    if (options.check) {
      const report = await Promise.race([runCheck(topology), interrupted]);
      if (report === 'interrupted') return INTERRUPTED;
      process.stdout.write(`${describeCheck(report)}\n`);
      return report.ok ? 0 : 1;
    }
    progress('Ctrl-C stops the workers, the simulators, Vault, Temporal and PostgreSQL, in that order');
    await interrupted;
    return 0;
  } finally {
    const stopping = Date.now();
    progress('stopping');
    await topology.stop();
    progress(`stopped in ${((Date.now() - stopping) / 1000).toFixed(1)}s`);
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
