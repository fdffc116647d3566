import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_AUDIT_LOG, workerVariablesSchema } from '../config/environment';
import { positiveDuration } from '../inventory/durations';
import { parseOrThrow, ValidationError } from '../validation';
import { VaultKvStore } from '../vault';
import { verifyState, type StateReport } from '../verify';
import { isViolation } from '../verify/report';
import { auditTrustOf } from './audit-trust';
import { CliContext, CliError, EXIT, parseOptions, table, withJson } from './context';

const optionsSchema = z
  .object({
    inventory: z.string().min(1).optional(),
    auditLog: z.array(z.string().min(1)).optional(),
    stuckAfter: positiveDuration.default(600_000),
    json: z.boolean().optional(),
  })
  .strict();

/**
 * Unlike the other commands, the checker (and the fingerprint backfill) reads Vault: it compares values
 * itself (in memory), and reads the providers' admin tokens from there as the worker does. A token, not
 * AppRole: it runs once and exits.
 */
const vaultVariablesSchema = workerVariablesSchema
  .pick({ VAULT_ADDR: true, VAULT_TOKEN: true, VAULT_CACERT: true })
  .required({ VAULT_ADDR: true, VAULT_TOKEN: true });

export async function vaultOf(env: NodeJS.ProcessEnv, command: string): Promise<VaultKvStore> {
  // An empty variable means the same as an unset one, as for the worker.
  const set = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  let variables: z.output<typeof vaultVariablesSchema>;
  try {
    variables = parseOrThrow(vaultVariablesSchema, set, `the Vault environment of ${command}`);
  } catch (error) {
    if (error instanceof ValidationError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
  let caCert: string | undefined;
  if (variables.VAULT_CACERT !== undefined) {
    caCert = await readFile(variables.VAULT_CACERT, 'utf8').catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new CliError(`cannot read VAULT_CACERT ${variables.VAULT_CACERT} (${code})`, EXIT.usage);
    });
  }
  return new VaultKvStore({ endpoint: variables.VAULT_ADDR, token: variables.VAULT_TOKEN, caCert });
}

/** The table (credential, verdict, reason), then every finding, open rotation and audit log, then the total. */
function render(report: StateReport): string {
  const rows = report.credentials.map(({ credentialId, verdict, reason }) => [credentialId, verdict, reason]);
  const findings = report.credentials.flatMap(({ credentialId, violations, notes }) => [
    ...violations.map(({ kind, message }) => `${credentialId}: VIOLATION ${kind}: ${message}`),
    ...notes.map(({ kind, message }) => `${credentialId}: ${kind}: ${message}`),
  ]);
  const rotations = report.openRotations.map(
    (rotation) =>
      `  ${rotation.workflowId}: ${isViolation(rotation) ? 'VIOLATION ' : ''}${rotation.state}: ${rotation.message}`,
  );
  const logs = report.auditLogs.map((log) =>
    log.ok
      ? `audit log ${log.path}: intact, ${log.entries} ${log.entries === 1 ? 'entry' : 'entries'}`
      : `audit log ${log.path}${log.line === undefined ? '' : `:${log.line}`}: VIOLATION broken: ${log.problem}`,
  );
  const total = report.ok
    ? 'no violation'
    : `${report.violations} ${report.violations === 1 ? 'violation' : 'violations'}`;
  return [
    table(['CREDENTIAL', 'VERDICT', 'REASON'], rows),
    ...(findings.length === 0 ? [] : [`${findings.join('\n')}\n`]),
    rotations.length === 0
      ? `no rotation open on task queue ${report.taskQueue}\n`
      : `open rotations on task queue ${report.taskQueue}:\n${rotations.join('\n')}\n`,
    `${logs.join('\n')}\n`,
    `${total}: ${report.credentials.length} credentials checked at ${report.checkedAt}\n`,
  ].join('\n');
}

export function registerVerifyState(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('verify-state')
      .summary('check that no credential was lost, leaked or left behind (exit 1 on any violation)')
      .description(
        'check every credential of the inventory: Vault holds a whole current version and no stranded ' +
          'staged token, the provider holds that token active, every target holds it, no other token the ' +
          'rotator minted is active (except a previous one inside its overlap window), or a rotation ' +
          'since the last rotated one is in a terminal state (needs-operator, compromised, ' +
          'compromised-or-lost) with its alert sent and audited. Then every audit log verifies and every open rotation waits in a ' +
          'documented state. Reads Vault (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT); never prints a value. ' +
          'Exits 0 with no violation, 1 with any',
      )
      .option('--inventory <file>', 'the inventory (default: $ROTATOR_INVENTORY, or ./rotator.yaml)')
      .option(
        '--audit-log <file>',
        `an audit log, once per worker (default: $ROTATOR_AUDIT_LOG, or ${DEFAULT_AUDIT_LOG})`,
        (file: string, files: string[] = []) => [...files, file],
      )
      .option('--stuck-after <duration>', 'a rotation in one step for longer than this is stuck', '10m'),
  ).action(
    cli.action(async (raw: unknown) => {
      const options = parseOptions(optionsSchema, raw);
      const inventory = await cli.inventory(options.inventory);
      const vault = await vaultOf(cli.env, 'verify-state');
      const auditLogs = options.auditLog ?? [cli.env.ROTATOR_AUDIT_LOG || DEFAULT_AUDIT_LOG];
      const report = await verifyState({
        client: await cli.client(),
        taskQueue: cli.config.temporal.taskQueue,
        inventory,
        vault,
        auditLogs,
        auditTrust: await auditTrustOf(cli.env),
        stuckAfterMs: options.stuckAfter,
      });
      if (options.json === true) cli.json(report);
      else cli.io.stdout(render(report));
      return report.ok ? EXIT.ok : EXIT.failed;
    }),
  );
}
