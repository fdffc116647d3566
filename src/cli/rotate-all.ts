import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { ROTATION_REASONS } from '../../activities/rotation';
import type { Credential } from '../inventory/schema';
import { ROTATION_OUTCOME } from '../search-attributes';
import type {
  RotateAllProgress,
  RotateAllRequest,
  RotateAllResult,
  rotateAll,
} from '../../workflows/rotate-all';
import { CliContext, CliError, EXIT, parseOptions, table, withJson } from './context';
import { SUCCESSFUL_OUTCOMES } from './rotate';

/** The inventory fields a selector can match, by the name operators type. */
const SELECTABLE: Record<string, (credential: Credential) => string> = {
  environment: (credential) => credential.environment,
  id: (credential) => credential.id,
  owner: (credential) => credential.owner,
  kind: (credential) => credential.source.kind,
};
const POLL_MS = 500;
const BAR_WIDTH = 30;

const selectorPair = z
  .string()
  .regex(
    new RegExp(`^(${Object.keys(SELECTABLE).join('|')})=[^=,]+$`),
    `expected key=value pairs with keys ${Object.keys(SELECTABLE).join(', ')}, such as environment=production`,
  );

const rotateAllOptions = z.object({
  // Each --selector may hold several pairs separated by commas; every pair must match.
  selector: z
    .array(z.string())
    .min(1)
    .transform((values) => values.flatMap((value) => value.split(',')))
    .pipe(z.array(selectorPair)),
  concurrency: z
    .string()
    .regex(/^\d+$/, 'expected a whole number from 1 to 50')
    .transform(Number)
    .pipe(
      z.int().min(1, 'expected a whole number from 1 to 50').max(50, 'expected a whole number from 1 to 50'),
    ),
  reason: z.enum(ROTATION_REASONS),
  force: z.boolean().optional(),
  dryRun: z.boolean().optional(),
  requestedBy: z.string().optional(),
  json: z.boolean().optional(),
});

/** The credentials every `key=value` pair matches. */
export function selectCredentials(credentials: Credential[], pairs: string[]): Credential[] {
  const matchers = pairs.map((pair) => {
    const [key = '', value = ''] = pair.split('=');
    const field = SELECTABLE[key];
    if (field === undefined) throw new CliError(`--selector: unknown key ${key}`, EXIT.usage);
    return (credential: Credential) => field(credential) === value;
  });
  return credentials.filter((credential) => matchers.every((matches) => matches(credential)));
}

export function registerRotateAll(program: Command, cli: CliContext): void {
  withJson(
    program
      .command('rotate-all')
      .summary('rotate every credential a selector matches, a few at a time (incidents)')
      .description(
        'the incident path: rotate every credential the selector matches, a few at a time, through one ' +
          'rotateAll workflow; shows progress and ends with a table of outcomes. Exits 0 when every ' +
          'credential was rotated, not due or a dry run, 1 otherwise',
      )
      .requiredOption(
        '--selector <key=value>',
        `inventory fields to match (${Object.keys(SELECTABLE).join(', ')}); pairs separated by commas, or the ` +
          'option repeated, must all match',
        (value: string, previous: string[] = []) => [...previous, value],
      )
      .option('--concurrency <n>', 'rotations at once', '5')
      .option(
        '--reason <reason>',
        `why: ${ROTATION_REASONS.join(', ')} (compromised rotates even when not due)`,
        'compromised',
      )
      .option('--force', 'rotate even when a credential is not due')
      .option('--dry-run', 'stop each rotation after detect and say what would happen')
      .option('--requested-by <name>', 'who asks (default: $USER)'),
  ).action(
    cli.action(async (raw: unknown) => {
      const options = parseOptions(rotateAllOptions, raw);
      const requestedBy = cli.requester(options.requestedBy);
      const selected = selectCredentials((await cli.inventory()).credentials, options.selector);
      if (selected.length === 0) {
        throw new CliError(
          `--selector: no credential of ${cli.config.inventory} matches ${options.selector.join(',')}`,
          EXIT.usage,
        );
      }
      const client = await cli.client();
      const request: RotateAllRequest = {
        credentialIds: selected.map((credential) => credential.id),
        reason: options.reason,
        requestedBy,
        concurrency: options.concurrency,
        ...(options.force === true ? { force: true } : {}),
        ...(options.dryRun === true ? { dryRun: true } : {}),
      };
      const workflowId = `rotate-all/${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;
      const handle = await client.workflow.start<typeof rotateAll>('rotateAll', {
        taskQueue: cli.config.temporal.taskQueue,
        workflowId,
        args: [request],
        staticSummary: `rotate ${selected.length} credentials (${options.selector.join(',')}, ${options.reason})`,
      });
      const url = cli.workflowUrl(workflowId);
      const report = options.json === true ? cli.io.stderr : cli.io.stdout;
      report(
        `rotating ${selected.length} credentials (${options.selector.join(',')}), ${options.concurrency} at a ` +
          `time: workflow ${workflowId}\n  ${url}\n`,
      );

      let shown = '';
      let ended = false;
      const result = handle.result();
      void result.finally(() => (ended = true)).catch(() => undefined);
      while (!ended) {
        try {
          const line = progressLine(await handle.query<RotateAllProgress>('progress'));
          if (line !== shown) report(`${line}\n`);
          shown = line;
        } catch {
          // Before its first workflow task the workflow cannot answer yet.
        }
        await Promise.race([result.catch(() => undefined), sleep(POLL_MS)]);
      }
      const progress = await result;
      const last = progressLine(progress);
      if (last !== shown) report(`${last}\n`);
      const results = await recordedOutcomes(client, progress.results);
      // In the order of the selection, which is the inventory's.
      const ordered = request.credentialIds.flatMap((id) => results.filter((r) => r.credentialId === id));
      const failed = ordered.filter((r) => !SUCCESSFUL_OUTCOMES.has(r.outcome));
      if (options.json === true) {
        cli.json({
          workflowId,
          url,
          results: ordered.map((r) => ({ ...r, url: cli.workflowUrl(r.workflowId, r.runId) })),
        });
      } else {
        cli.io.stdout(
          '\n' +
            table(
              ['CREDENTIAL', 'OUTCOME', 'DETAIL'],
              ordered.map((r) => [r.credentialId, r.outcome, r.detail]),
            ) +
            `\n${ordered.length - failed.length} of ${ordered.length} rotated, not due or dry run` +
            (failed.length === 0 ? '\n' : `; look at: ${failed.map((r) => r.credentialId).join(', ')}\n`),
        );
      }
      return failed.length === 0 ? EXIT.ok : EXIT.failed;
    }),
  );
}

/** `[#####.....] 12/30 done, 5 running`: a progress line that fits a log as well as a terminal. */
function progressLine({ total, running, results }: RotateAllProgress): string {
  const done = results.length;
  const filled = total === 0 ? BAR_WIDTH : Math.round((done / total) * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${total} done, ${running.length} running`;
}

/**
 * A failed child tells the parent only that it failed; the outcome it recorded (rolled-back, or failed when
 * an operator resolved its rollback) is in its RotationOutcome search attribute.
 */
async function recordedOutcomes(client: Client, results: RotateAllResult[]): Promise<RotateAllResult[]> {
  return Promise.all(
    results.map(async (result) => {
      if (result.runId === undefined || SUCCESSFUL_OUTCOMES.has(result.outcome)) return result;
      const description = await client.workflow.getHandle(result.workflowId, result.runId).describe();
      const recorded = description.typedSearchAttributes.get(ROTATION_OUTCOME);
      return recorded === undefined ? result : { ...result, outcome: recorded as RotateAllResult['outcome'] };
    }),
  );
}
