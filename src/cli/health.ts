import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import type { CredentialHealth, HealthReport, healthCheck } from '../../workflows/health-check';
import { CliContext, CliError, EXIT, moment, table, withJson } from './context';

/** The workflow id of a health check run by hand; the hourly schedule's start with `health-check/` too. */
function healthCheckWorkflowId(): string {
  return `health-check/${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;
}

/** `2/2 current`, or what is not: `1 drifted, 1 unverifiable of 2`. */
function targetsCell({ targets }: CredentialHealth): string {
  if (targets.length === 0) return '-';
  const current = targets.filter(({ state }) => state === 'current').length;
  if (current === targets.length) return `${current}/${targets.length} current`;
  const counts = new Map<string, number>();
  for (const { state } of targets) if (state !== 'current') counts.set(state, (counts.get(state) ?? 0) + 1);
  return `${[...counts].map(([state, count]) => `${count} ${state}`).join(', ')} of ${targets.length}`;
}

function problemsCell(health: CredentialHealth): string {
  const kinds: string[] = health.problems.map(({ kind }) => kind);
  if (health.unchecked.length > 0) kinds.push('unchecked');
  return kinds.length === 0 ? 'ok' : kinds.join(', ');
}

/** The table, then one line per problem, check that could not run, repair and alert that failed. */
function render(report: HealthReport, url: string): string {
  const rows = report.credentials.map((health) => [
    health.credentialId,
    health.tokenId === undefined ? health.token : `${health.tokenId} ${health.token}`,
    health.expiresAt === undefined ? '-' : (health.expiresAt ?? 'never'),
    moment(health.rotatedAt),
    targetsCell(health),
    problemsCell(health),
  ]);
  const details = report.credentials
    .flatMap((health) => [
      ...health.problems.map(({ kind, message }) => `${health.credentialId}: ${kind}: ${message}`),
      ...health.unchecked.map((why) => `${health.credentialId}: not checked: ${why}`),
      ...(health.repair === undefined ? [] : [`${health.credentialId}: repair: ${health.repair.detail}`]),
      ...health.alertsFailed.map((why) => `${health.credentialId}: alert not sent: ${why}`),
    ])
    .concat((report.notes ?? []).map((note) => `note: ${note}`));
  const unhealthy = report.credentials.filter((health) => problemsCell(health) !== 'ok').length;
  const unmanaged = unmanagedLines(report.unmanaged);
  return (
    table(['CREDENTIAL', 'TOKEN', 'EXPIRES', 'ROTATED', 'TARGETS', 'PROBLEMS'], rows) +
    (details.length === 0 ? '' : `\n${details.join('\n')}\n`) +
    (unmanaged.length === 0 ? '' : `\n${unmanaged.join('\n')}\n`) +
    `\n${report.credentials.length - unhealthy} of ${report.credentials.length} credentials healthy ` +
    `(checked ${moment(report.checkedAt)}): ${url}\n`
  );
}

/** The unmanaged tokens of discovery.watch that expire soon, and what could not be listed. */
function unmanagedLines(unmanaged: HealthReport['unmanaged']): string[] {
  if (unmanaged === undefined || (unmanaged.watched === 0 && unmanaged.failed === undefined)) return [];
  const { warningDays } = unmanaged;
  return [
    ...(unmanaged.failed === undefined ? [] : [`unmanaged tokens: not checked: ${unmanaged.failed}`]),
    ...unmanaged.expiring.map(
      ({ kind, resource, name, expiresAt }) =>
        `unmanaged: ${kind} ${resource} "${name}" expires ${expiresAt} (within ${warningDays} days)`,
    ),
    ...unmanaged.notListed.map((line) => `unmanaged: ${line}`),
    ...unmanaged.alertsFailed.map((why) => `unmanaged: alert not sent: ${why}`),
  ];
}

export function registerHealth(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('health')
      .summary('check every credential now: valid token, targets current, not overdue, not expiring')
      .description(
        'run the health check once (the healthCheck workflow the hourly health-check schedule runs): for ' +
          'every credential, the token is valid at the provider, every target holds the current Vault ' +
          'version, the last rotation is not overdue and the token outlives the next one. Problems are ' +
          'alerted. Exits 0 when every credential is healthy, 1 otherwise',
      )
      .option('--repair', 'start a rotation of every credential whose targets drifted')
      .option('--requested-by <name>', 'who asks (default: $USER)'),
  ).action(
    cli.action(async (options: { json?: boolean; repair?: boolean; requestedBy?: string }) => {
      const requestedBy = cli.requester(options.requestedBy);
      const client = await cli.client();
      const workflowId = healthCheckWorkflowId();
      const handle = await client.workflow.start<typeof healthCheck>('healthCheck', {
        taskQueue: cli.config.temporal.taskQueue,
        workflowId,
        args: [{ requestedBy, ...(options.repair === true ? { repair: true } : {}) }],
        staticSummary: `health check${options.repair === true ? ' with repair' : ''} by ${requestedBy}`,
      });
      const url = cli.workflowUrl(workflowId, handle.firstExecutionRunId);
      let report: HealthReport;
      try {
        report = await handle.result();
      } catch (error) {
        if (!(error instanceof WorkflowFailedError)) throw error;
        throw new CliError(
          `the health check failed: ${error.cause?.message ?? error.message} (${url})`,
          EXIT.failed,
        );
      }
      if (options.json === true) cli.json({ workflowId, url, ...report });
      else cli.io.stdout(render(report, url));
      return report.healthy ? EXIT.ok : EXIT.failed;
    }),
  );
}
