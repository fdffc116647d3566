import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { Credential } from '../inventory/schema';
import { statusQuery, versionsText, type RotationStatus } from '../../workflows/status';
import { z } from 'zod';
import { discoverWatched } from '../discovery';
import { expiryHorizon } from '../discovery/horizon';
import { managedExpiries } from '../discovery/managed-expiry';
import { positiveDuration } from '../inventory/durations';
import { ProviderError } from '../providers/errors';
import { storedFieldReader } from '../stores/read-field';
import { StoreError } from '../stores/store';
import { credentialQuestions, stateChecks } from '../verify/checks';
import {
  CliContext,
  CliError,
  EXIT,
  moment,
  parseOptions,
  rotationRuns,
  table,
  withJson,
  type RotationRun,
} from './context';
import { humanDuration } from '../human-duration';
import { vaultOf } from './verify-state';

/** One credential's line in `rotator status`. */
interface CredentialRow {
  credentialId: string;
  environment: string;
  /** The newest rotation, running or ended. */
  last?: RotationRun;
  /** When the last rotation that rotated ended: the current value's age counts from there. */
  lastRotatedAt?: string;
  /** policy.every after that; undefined when cred-rotator never rotated it (it is due now). */
  nextDueAt?: string;
  ageSeconds?: number;
  overdue: boolean;
}

export function registerStatus(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('status')
      .summary('every credential at a glance, or one rotation in detail')
      .description(
        'without an id, a table of every credential of the inventory: last rotation and its outcome, the ' +
          'phase of a running one, next due time and age; with an id, the running or last rotation in detail',
      )
      .argument('[id]', 'credential id from the inventory')
      .option(
        '--horizon <duration>',
        'instead: per ISO week up to this far ahead (90d), the tokens that expire: every managed credential’s, ' +
          'and the unmanaged ones of discovery.watch; weeks over discovery.horizonCliff flagged (reads the ' +
          'credentials’ secrets and the admin tokens: VAULT_ADDR, VAULT_TOKEN)',
      ),
  ).action(
    cli.action(async (id: string | undefined, options: { json?: boolean; horizon?: string }) => {
      if (options.horizon !== undefined) return showHorizon(cli, options);
      if (id !== undefined) return showRotation(cli, id, options.json === true);
      const { credentials } = await cli.inventory();
      const client = await cli.client();
      const now = Date.now();
      const rows = await Promise.all(credentials.map((credential) => credentialRow(client, credential, now)));
      if (options.json === true) {
        cli.json(rows);
        return EXIT.ok;
      }
      cli.io.stdout(
        table(
          ['CREDENTIAL', 'ENVIRONMENT', 'LAST ROTATION', 'STATE', 'LAST ROTATED', 'AGE', 'NEXT DUE'],
          rows.map((row) => [
            row.credentialId,
            row.environment,
            moment(row.last?.startedAt),
            row.last === undefined
              ? 'never'
              : row.last.state === 'running'
                ? `running (${row.last.phase ?? 'starting'})`
                : row.last.state,
            moment(row.lastRotatedAt),
            row.ageSeconds === undefined ? '-' : humanDuration(row.ageSeconds * 1000, 2),
            row.nextDueAt === undefined
              ? 'now (never rotated)'
              : `${moment(row.nextDueAt)}${row.overdue ? ' OVERDUE' : ''}`,
          ]),
        ),
      );
      return EXIT.ok;
    }),
  );
}

const horizonOptionsSchema = z.object({ horizon: positiveDuration, json: z.boolean().optional() }).strict();

/** Said in place of what discovery would list, when the inventory watches nothing. */
const NOTHING_WATCHED =
  'unmanaged tokens: not looked for: discovery.watch names no group, organization or repository';

/**
 * `status --horizon`: the expiry horizon of every managed credential (its current token, asked as the health
 * check asks it) and of the unmanaged tokens in the watched groups, organizations and repositories.
 */
async function showHorizon(cli: CliContext, raw: unknown) {
  const options = parseOptions(horizonOptionsSchema, raw);
  const inventory = await cli.inventory();
  const { watch, horizonCliff } = inventory.discovery;
  const checks = stateChecks(await vaultOf(cli.env, 'status --horizon'), inventory);
  const { plans, unplanned } = await checks.activities.healthCheckPlans();
  const counted = await managedExpiries(
    plans.map(({ plan }) => plan),
    credentialQuestions(checks.activities),
  );
  const listing =
    watch.length === 0
      ? { found: [], notListed: [NOTHING_WATCHED] }
      : await discoverWatched(inventory, storedFieldReader(checks.stores)).catch((error: unknown) => {
          if (error instanceof ProviderError || error instanceof StoreError)
            throw new CliError(`discovery failed: ${error.message}`, EXIT.failed);
          throw error;
        });
  const notListed = [
    ...listing.notListed,
    ...unplanned.map(({ credentialId, reason }) => `credential ${credentialId}: not counted: ${reason}`),
    ...counted.unchecked,
  ];
  const weeks = expiryHorizon(listing.found, new Date(), options.horizon, horizonCliff, counted.managed);
  if (options.json === true) {
    cli.json({ horizonCliff, weeks, notListed });
    return EXIT.ok;
  }
  cli.io.stdout(
    table(
      ['WEEK', 'FROM', 'MANAGED', 'UNMANAGED', 'CLIFF'],
      weeks.map((week) => [
        week.week,
        week.monday,
        String(week.managed),
        String(week.unmanaged),
        week.cliff ? `CLIFF (more than ${horizonCliff})` : '',
      ]),
    ) + notListed.map((line) => `${line}\n`).join(''),
  );
  return EXIT.ok;
}

async function credentialRow(client: Client, credential: Credential, now: number): Promise<CredentialRow> {
  const runs = await rotationRuns(client, credential.id);
  const rotated = runs.find((run) => run.outcome === 'rotated' && run.closedAt !== undefined);
  const lastRotatedAt = rotated?.closedAt;
  const nextDue =
    lastRotatedAt === undefined ? undefined : Date.parse(lastRotatedAt) + credential.policy.every;
  return {
    credentialId: credential.id,
    environment: credential.environment,
    ...(runs[0] === undefined ? {} : { last: runs[0] }),
    ...(lastRotatedAt === undefined
      ? {}
      : {
          lastRotatedAt,
          nextDueAt: new Date(nextDue ?? now).toISOString(),
          ageSeconds: Math.round((now - Date.parse(lastRotatedAt)) / 1000),
        }),
    overdue: nextDue !== undefined && nextDue + credential.policy.jitter < now,
  };
}

/** The running or last rotation of one credential, from its `status` query. */
async function showRotation(cli: CliContext, id: string, json: boolean) {
  await cli.credential(id);
  const client = await cli.client();
  const [last] = await rotationRuns(client, id);
  if (last === undefined) {
    if (json) cli.json({ credentialId: id, rotation: null });
    else
      cli.io.stdout(`${id} has not been rotated by cred-rotator yet: \`rotator rotate ${id}\` starts one\n`);
    return EXIT.ok;
  }
  const url = cli.workflowUrl(last.workflowId, last.runId);
  let status: RotationStatus | undefined;
  let unanswered: string | undefined;
  try {
    status = await client.workflow.getHandle(last.workflowId, last.runId).query(statusQuery);
  } catch (error) {
    // A query is answered by a worker, which replays an ended rotation to do so.
    unanswered =
      `the rotation did not answer its status query (${(error as Error).message}): is a worker polling ` +
      `${cli.config.temporal.taskQueue}?`;
  }
  if (json) {
    cli.json({ credentialId: id, rotation: { ...last, url }, status: status ?? null });
    if (unanswered !== undefined) cli.io.stderr(`rotator: ${unanswered}\n`);
    return EXIT.ok;
  }
  const lines = [
    `${id}: ${last.state === 'running' ? `rotating, phase ${status?.phase ?? last.phase ?? 'starting'}` : last.state}`,
    `  workflow  ${last.workflowId} (run ${last.runId})`,
    `  web UI    ${url}`,
    `  started   ${moment(last.startedAt)}${last.closedAt === undefined ? '' : `, ended ${moment(last.closedAt)}`}`,
  ];
  if (status !== undefined) lines.push(...statusLines(status));
  cli.io.stdout(`${lines.join('\n')}\n`);
  if (unanswered !== undefined) cli.io.stderr(`rotator: ${unanswered}\n`);
  return EXIT.ok;
}

function statusLines(status: RotationStatus): string[] {
  const lines: string[] = [];
  if (status.outcome !== undefined) lines.push(`  outcome   ${status.outcome}: ${status.detail ?? ''}`);
  const versions = versionsText(status);
  if (versions !== undefined) lines.push(`  versions  ${versions}`);
  if (status.oldTokenId !== undefined || status.newTokenId !== undefined) {
    lines.push(`  tokens    old ${status.oldTokenId ?? '-'}, new ${status.newTokenId ?? '-'}`);
  }
  if (status.approvedBy !== undefined) lines.push(`  approved  by ${status.approvedBy}`);
  if (status.abortedBy !== undefined) {
    const { requestedBy, reason, phase } = status.abortedBy;
    lines.push(`  aborted   by ${requestedBy} while ${phase}: ${reason}`);
  }
  if (status.overlapEndsAt !== undefined) lines.push(`  overlap   ends ${moment(status.overlapEndsAt)}`);
  if (status.targets.length > 0) {
    lines.push('  targets');
    for (const target of status.targets) lines.push(`    ${target.state.padEnd(15)} ${target.name}`);
  }
  lines.push('  timeline');
  for (const entry of status.timeline) {
    const result = entry.result ?? 'running';
    lines.push(
      `    ${moment(entry.startedAt)}  ${result.padEnd(7)} ${entry.step}${entry.recovery === true ? ' (recovery)' : ''}`,
    );
  }
  if (status.failures.length > 0) {
    lines.push('  failures');
    for (const failure of status.failures) {
      lines.push(
        `    ${moment(failure.at)}  ${failure.step}: ${failure.class}: ${failure.message}`,
        `      recovery: ${failure.recovery}${failure.recovered ? ' (recovered)' : ''}`,
      );
    }
  }
  if (status.alerts.length > 0) {
    lines.push('  alerts');
    for (const alert of status.alerts) lines.push(`    ${alert}`);
  }
  return lines;
}

export function registerHistory(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('history')
      .summary('past rotations of a credential, with Web UI links')
      .description('past rotations of a credential from Temporal visibility, newest first, with Web UI links')
      .argument('<id>', 'credential id from the inventory'),
  ).action(
    cli.action(async (id: string, options: { json?: boolean }) => {
      await cli.credential(id);
      const runs = (await rotationRuns(await cli.client(), id)).map((run) => ({
        ...run,
        url: cli.workflowUrl(run.workflowId, run.runId),
      }));
      if (options.json === true) {
        cli.json(runs);
        return EXIT.ok;
      }
      if (runs.length === 0) {
        cli.io.stdout(`${id} has not been rotated by cred-rotator yet\n`);
        return EXIT.ok;
      }
      cli.io.stdout(
        table(
          ['STARTED', 'ENDED', 'OUTCOME', 'WEB UI'],
          runs.map((run) => [
            moment(run.startedAt),
            moment(run.closedAt),
            run.state === 'running' ? `running (${run.phase ?? 'starting'})` : run.state,
            run.url,
          ]),
        ),
      );
      return EXIT.ok;
    }),
  );
}
