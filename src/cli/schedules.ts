import { createHash } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleSummary,
} from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { duration } from '../inventory/durations';
import type { Credential } from '../inventory/schema';
import type { HealthCheckRequest } from '../../workflows/health-check';
import type { RotateAllRequest } from '../../workflows/rotate-all';
import {
  CliContext,
  CliError,
  EXIT,
  isNotFound,
  moment,
  parseOptions,
  patiently,
  table,
  withJson,
} from './context';
import { humanDuration } from '../human-duration';
import { inLanes } from '../parallel';

/**
 * Schedules synced at a time: one at a time, 10,000 took 121 s, nearly all of it waiting for the server's
 * answers; a few in flight keep the server busy without flooding it.
 */
const SYNC_CONCURRENCY = 16;

/** Only schedules with this prefix belong to `schedules sync`; it leaves every other schedule alone. */
export const SCHEDULE_PREFIX = 'rotate-schedule/';
/** After an outage, a missed rotation starts only if the outage was shorter than this: no thundering herd. */
const CATCHUP_WINDOW_MS = 60_000;

export function scheduleId(credentialId: string): string {
  return `${SCHEDULE_PREFIX}${credentialId}`;
}

/**
 * The schedule of one credential. A schedule appends the scheduled time to the workflow id it starts, so
 * it starts a one-credential `rotateAll`, whose child has the exact id `rotate/<credentialId>`: Temporal
 * then refuses a scheduled rotation while a manual one runs, as it refuses two manual ones.
 */
function desiredSchedule(credential: Credential, taskQueue: string) {
  const request: RotateAllRequest = {
    credentialIds: [credential.id],
    reason: 'scheduled',
    requestedBy: 'schedule',
    concurrency: 1,
  };
  return {
    scheduleId: scheduleId(credential.id),
    spec: {
      intervals: [{ every: credential.policy.every }],
      ...(credential.policy.jitter > 0 ? { jitter: credential.policy.jitter } : {}),
    },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'rotateAll',
      workflowId: scheduleId(credential.id),
      taskQueue,
      args: [request] as [RotateAllRequest],
      staticSummary: `scheduled rotation of ${credential.id}`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW_MS },
  } satisfies ScheduleOptions;
}

/** The health check's schedule: one per task queue, so that deployments sharing a namespace keep theirs. */
export function healthScheduleId(taskQueue: string): string {
  return `health-check/${taskQueue}`;
}
export const DEFAULT_HEALTH_CHECK_EVERY = '1h';

/** The hourly (by default) health check: it alerts on every problem, and repairs nothing by itself. */
function desiredHealthSchedule(taskQueue: string, every: number) {
  const request: HealthCheckRequest = { requestedBy: 'schedule' };
  return {
    scheduleId: healthScheduleId(taskQueue),
    spec: { intervals: [{ every }], jitter: 0 },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'healthCheck',
      workflowId: healthScheduleId(taskQueue),
      taskQueue,
      args: [request] as [HealthCheckRequest],
      staticSummary: 'scheduled health check',
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW_MS },
  } satisfies ScheduleOptions;
}

type Desired = ReturnType<typeof desiredSchedule> | ReturnType<typeof desiredHealthSchedule>;

const syncOptions = z.object({
  healthCheckEvery: z
    .string()
    .refine((text) => duration.safeParse(text).success && duration.parse(text) > 0, {
      message: 'expected a duration such as "1h" or "30m"',
    })
    .transform((text) => duration.parse(text)),
  json: z.boolean().optional(),
});

/** What differs between a schedule as it is and as the inventory wants it, in the operator's words. */
function differences(actual: ScheduleDescription, desired: Desired): string[] {
  const changes: string[] = [];
  const every = actual.spec.intervals?.[0]?.every;
  const wantEvery = desired.spec.intervals[0]?.every ?? 0;
  if (actual.spec.intervals?.length !== 1 || every !== wantEvery) {
    changes.push(`every ${every === undefined ? '-' : humanDuration(every)} → ${humanDuration(wantEvery)}`);
  }
  const jitter = actual.spec.jitter ?? 0;
  const wantJitter = desired.spec.jitter ?? 0;
  if (jitter !== wantJitter) changes.push(`jitter ${humanDuration(jitter)} → ${humanDuration(wantJitter)}`);
  const { action } = actual;
  if (
    action.workflowType !== desired.action.workflowType ||
    action.workflowId !== desired.action.workflowId ||
    JSON.stringify(action.args) !== JSON.stringify(desired.action.args)
  ) {
    changes.push('workflow');
  }
  if (action.taskQueue !== desired.action.taskQueue) {
    changes.push(`task queue ${action.taskQueue} → ${desired.action.taskQueue}`);
  }
  if (actual.policies.overlap !== desired.policies.overlap)
    changes.push(`overlap → ${desired.policies.overlap}`);
  if (actual.policies.catchupWindow !== desired.policies.catchupWindow) {
    changes.push(`catch-up window → ${humanDuration(desired.policies.catchupWindow)}`);
  }
  return changes;
}

async function describeOrUndefined(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await patiently(() => client.schedule.getHandle(id).describe());
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Our schedules by id; listing is eventually consistent, so a schedule created just now may be missing. */
async function ourSchedules(client: Client): Promise<Map<string, ScheduleSummary>> {
  const summaries = await patiently(async () => {
    const listed: ScheduleSummary[] = [];
    for await (const summary of client.schedule.list()) {
      if (summary.scheduleId.startsWith(SCHEDULE_PREFIX)) listed.push(summary);
    }
    return listed;
  });
  summaries.sort((a, b) => (a.scheduleId < b.scheduleId ? -1 : 1));
  return new Map(summaries.map((summary) => [summary.scheduleId, summary]));
}

async function ourScheduleIds(client: Client): Promise<string[]> {
  return [...(await ourSchedules(client)).keys()];
}

/** The memo key holding what sync created a schedule as (a memo cannot be updated after). */
const SYNCED_AS = 'rotatorSyncedAs';

function fingerprint({ spec, action, policies }: Desired): string {
  return createHash('sha256').update(JSON.stringify({ spec, action, policies })).digest('base64url');
}

/**
 * Whether the listing alone shows a schedule as sync created it and as the inventory wants it: created with
 * this fingerprint, and listed with the same interval. Anything else is described and compared.
 */
function listedAsWanted(summary: ScheduleSummary, desired: Desired): boolean {
  const intervals = summary.spec?.intervals;
  return (
    summary.memo?.[SYNCED_AS] === fingerprint(desired) &&
    intervals?.length === 1 &&
    intervals[0]?.every === desired.spec.intervals[0]?.every
  );
}

export function registerSchedules(program: Command, cli: CliContext): void {
  const schedules = program
    .command('schedules')
    .description(
      `one Temporal Schedule per credential (${SCHEDULE_PREFIX}<id>), from the inventory's policy`,
    );

  withJson(
    schedules
      .command('sync')
      .description(
        "create, update and delete schedules so that they match the inventory, and the health check's " +
          `(${healthScheduleId('<task queue>')}); a second sync changes nothing`,
      )
      .option(
        '--health-check-every <duration>',
        'how often the health check runs',
        DEFAULT_HEALTH_CHECK_EVERY,
      ),
  ).action(
    cli.action(async (raw: unknown) => {
      const options = parseOptions(syncOptions, raw);
      const { credentials } = await cli.inventory();
      const client = await cli.client();
      const { taskQueue } = cli.config.temporal;
      const report = {
        created: [] as string[],
        updated: [] as string[],
        deleted: [] as string[],
        unchanged: [] as string[],
      };
      const lines: string[] = [];
      const wantedSchedules = [
        ...credentials.map((credential) => desiredSchedule(credential, taskQueue)),
        desiredHealthSchedule(taskQueue, options.healthCheckEvery),
      ];
      // Listed once: a schedule not listed is created without a describe (a listing that lags behind
      // shows up as the create's ScheduleAlreadyRunning, and that schedule is then compared), and one listed
      // as sync created it and as wanted is not described at all (a describe each took 103 s for 10,000).
      const existing = await ourSchedules(client);
      type Outcome = { kind: 'created' | 'updated' | 'unchanged'; line?: string };
      const outcomes = new Map<string, Outcome>();
      const compare = async (desired: Desired): Promise<Outcome> => {
        const actual = await describeOrUndefined(client, desired.scheduleId);
        if (actual === undefined) return create(desired);
        const changes = differences(actual, desired);
        if (changes.length === 0) return { kind: 'unchanged' };
        await patiently(() =>
          client.schedule.getHandle(desired.scheduleId).update((previous) => ({
            ...previous,
            spec: desired.spec,
            action: desired.action,
            policies: { ...previous.policies, ...desired.policies },
          })),
        );
        return { kind: 'updated', line: `updated ${desired.scheduleId}: ${changes.join(', ')}` };
      };
      const create = async (desired: Desired): Promise<Outcome> => {
        try {
          await patiently(() =>
            client.schedule.create({ ...desired, memo: { [SYNCED_AS]: fingerprint(desired) } }),
          );
        } catch (error) {
          // Also a create that was made although its answer timed out, and was tried again.
          if (error instanceof ScheduleAlreadyRunning) return compare(desired);
          throw error;
        }
        return {
          kind: 'created',
          line:
            `created ${desired.scheduleId}: every ${humanDuration(desired.spec.intervals[0]?.every ?? 0)}, ` +
            `jitter ${humanDuration(desired.spec.jitter ?? 0)}`,
        };
      };
      await inLanes(wantedSchedules, SYNC_CONCURRENCY, async (desired) => {
        const summary = existing.get(desired.scheduleId);
        let outcome: Outcome;
        if (summary === undefined) outcome = await create(desired);
        else if (listedAsWanted(summary, desired)) outcome = { kind: 'unchanged' };
        else outcome = await compare(desired);
        outcomes.set(desired.scheduleId, outcome);
      });
      // Reported in the inventory's order, whichever finished first.
      for (const { scheduleId: id } of wantedSchedules) {
        const outcome = outcomes.get(id);
        if (outcome === undefined) continue;
        report[outcome.kind].push(id);
        if (outcome.line !== undefined) lines.push(outcome.line);
      }
      const wanted = new Set(credentials.map((credential) => scheduleId(credential.id)));
      const deleted = new Set<string>();
      await inLanes(
        [...existing.keys()].filter((id) => !wanted.has(id)),
        SYNC_CONCURRENCY,
        async (id) => {
          try {
            await patiently(() => client.schedule.getHandle(id).delete());
          } catch (error) {
            // Listed, but deleted meanwhile: visibility lags behind.
            if (isNotFound(error)) return;
            throw error;
          }
          deleted.add(id);
        },
      );
      for (const id of [...existing.keys()].filter((each) => deleted.has(each))) {
        report.deleted.push(id);
        lines.push(`deleted ${id}: its credential is no longer in the inventory`);
      }
      if (options.json === true) {
        cli.json(report);
        return EXIT.ok;
      }
      if (lines.length === 0)
        lines.push(`no changes: ${report.unchanged.length} schedules match the inventory`);
      cli.io.stdout(`${lines.join('\n')}\n`);
      return EXIT.ok;
    }),
  );

  withJson(
    schedules
      .command('list')
      .description('every rotation schedule: interval, jitter, paused, next and last run'),
  ).action(
    cli.action(async (options: { json?: boolean }) => {
      const client = await cli.client();
      const rows = [];
      for (const id of await ourScheduleIds(client)) {
        const description = await describeOrUndefined(client, id);
        if (description === undefined) continue;
        const last = description.info.recentActions.at(-1);
        rows.push({
          scheduleId: id,
          credentialId: id.slice(SCHEDULE_PREFIX.length),
          everyMs: description.spec.intervals?.[0]?.every ?? null,
          jitterMs: description.spec.jitter ?? 0,
          paused: description.state.paused,
          note: description.state.note ?? null,
          // Temporal still computes the times of a paused schedule, but none of them will run.
          nextRunAt: description.state.paused
            ? null
            : (description.info.nextActionTimes[0]?.toISOString() ?? null),
          lastRunAt: last?.takenAt.toISOString() ?? null,
        });
      }
      if (options.json === true) {
        cli.json(rows);
        return EXIT.ok;
      }
      if (rows.length === 0) {
        cli.io.stdout('no rotation schedules: `rotator schedules sync` creates them from the inventory\n');
        return EXIT.ok;
      }
      cli.io.stdout(
        table(
          ['SCHEDULE', 'EVERY', 'JITTER', 'STATE', 'NEXT RUN', 'LAST RUN'],
          rows.map((row) => [
            row.scheduleId,
            row.everyMs === null ? '-' : humanDuration(row.everyMs),
            humanDuration(row.jitterMs),
            row.paused ? `paused${row.note === null ? '' : ` (${row.note})`}` : 'active',
            moment(row.nextRunAt ?? undefined),
            moment(row.lastRunAt ?? undefined),
          ]),
        ),
      );
      return EXIT.ok;
    }),
  );

  const onOne = (
    name: string,
    description: string,
    act: (id: string, requestedBy: string) => Promise<string>,
  ) =>
    withJson(
      schedules
        .command(name)
        .description(`${description}; exits 3 when the credential has no schedule`)
        .argument('<id>', 'credential id from the inventory')
        .option('--requested-by <name>', 'who asks (default: $USER)'),
    ).action(
      cli.action(async (id: string, options: { json?: boolean; requestedBy?: string }) => {
        await cli.credential(id);
        const requestedBy = cli.requester(options.requestedBy);
        let message: string;
        try {
          message = await act(id, requestedBy);
        } catch (error) {
          if (isNotFound(error)) {
            throw new CliError(
              `${id} has no schedule ${scheduleId(id)}: \`rotator schedules sync\` creates it`,
              EXIT.refused,
            );
          }
          throw error;
        }
        if (options.json === true) cli.json({ scheduleId: scheduleId(id), action: name, requestedBy });
        else cli.io.stdout(`${message}\n`);
        return EXIT.ok;
      }),
    );

  onOne('pause', 'pause the schedule of a credential; its rotations start only by hand', async (id, by) => {
    await (await cli.client()).schedule.getHandle(scheduleId(id)).pause(`paused by ${by}`);
    return `paused ${scheduleId(id)}`;
  });
  onOne('unpause', 'resume the schedule of a credential', async (id, by) => {
    await (await cli.client()).schedule.getHandle(scheduleId(id)).unpause(`unpaused by ${by}`);
    return `unpaused ${scheduleId(id)}`;
  });
  onOne(
    'trigger',
    'run the schedule of a credential now (skipped while its scheduled rotation runs)',
    async (id) => {
      await (await cli.client()).schedule.getHandle(scheduleId(id)).trigger(ScheduleOverlapPolicy.SKIP);
      return (
        `triggered ${scheduleId(id)}: the rotation rotate/${id} starts now, unless one is running\n` +
        `  follow it with \`rotator status ${id}\``
      );
    },
  );
}
