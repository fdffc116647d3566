import type { RotationPlan } from '../../activities/rotation';
import type { RunningJob } from '../../src/providers/types';
import { retried, run, unlessStopped } from '../calls';
import { messageOf } from '../failures';
import { recordDecision } from '../operator';
import type { Rotation } from '../rotation';

/** What the job-aware overlap waits with, from the plan's policy. */
type Drain = NonNullable<RotationPlan['policy']['drain']>;

/** Beyond its wait, the listing activity has this long to answer. */
const LISTING_MARGIN_MS = 60_000;
/** How long `onMax: hold` keeps the window open for an operator, unless the jobs end first. */
const HOLD_MS = 7 * 24 * 60 * 60_000;
/** The jobs the current details and an alert name, at most. */
const NAMED = 5;

const named = (jobs: RunningJob[]) => [
  ...jobs.slice(0, NAMED).map(({ name, url }) => (url === undefined ? name : `${name} ${url}`)),
  ...(jobs.length > NAMED ? [`${jobs.length - NAMED} more`] : []),
];

/**
 * After the least overlap: the old value stays valid until no job that started before the switch still runs
 * in the credential's consumers, up to `max` from the switch. At `max` the old token is revoked with an alert
 * naming the jobs, or (`onMax: hold`) the window stays open for an operator's `end-overlap`, ending by itself
 * once the jobs do. Answers the alert, for the revoke's audit entry. Each listing is one activity that polls
 * until what runs changes: the history grows with the jobs that end, not with the wait.
 */
export async function drainJobs(r: Rotation, drain: Drain): Promise<string | undefined> {
  const consumers = (r.plan.consumers ?? []).map(({ ref }) => ref);
  const switchedAt = r.status.switchedAt ?? new Date().toISOString();
  const revoking = `revoking old token ${r.detection.currentTokenId}`;
  r.overlap.openUntil(Date.parse(switchedAt) + drain.max);
  let running: RunningJob[] | undefined;
  let alert: string | undefined;
  let held = false;
  while (!r.aborted) {
    const until = r.overlap.endsAt();
    // Listed at least once, even when the least overlap reached the max: the alert names what still ran.
    if (running !== undefined && Date.now() >= until) {
      if (drain.onMax === 'revoke' || held || r.overlap.endedByOperator()) break;
      held = true;
      alert = `${stillRunning(running)} at the overlap's max; held for an operator (onMax: hold)`;
      r.status.alerts.push(alert);
      recordDecision(r.status, 'jobs still running at the overlap max: held for an operator');
      await r.raiseAlert('jobs-still-running', alert);
      r.overlap.openUntil(Date.now() + HOLD_MS);
      continue;
    }
    let listed: { running: RunningJob[] } | undefined;
    try {
      // Until the operator moves the window's end (end-overlap, extend-overlap) or aborts: then look again.
      listed = await unlessStopped(
        () =>
          run(
            'awaitJobsDrained',
            `wait until no job started before ${switchedAt} runs (until ${new Date(until).toISOString()})`,
            [
              {
                consumers,
                switchedAt,
                known: (running ?? []).map(({ id }) => id),
                until: new Date(until).toISOString(),
                pollMs: drain.poll,
              },
            ],
            { ...retried, startToCloseTimeout: Math.max(0, until - Date.now()) + LISTING_MARGIN_MS },
          ),
        () => r.overlap.endsAt() !== until || r.aborted,
      );
    } catch (error) {
      // Not knowing what runs is no reason to fail a promoted rotation: the window runs to its end instead.
      recordDecision(r.status, `the jobs could not be listed (${messageOf(error)}): overlap runs to its end`);
      await r.overlap(Math.max(0, until - Date.now()), revoking);
      break;
    }
    if (listed === undefined) continue;
    running = listed.running;
    r.status.jobsStillRunning = named(running);
    r.show();
    if (running.length === 0) {
      recordDecision(r.status, 'no job started before the switch still runs: overlap ends');
      return alert;
    }
  }
  // Aborted, ended by an operator, or held and alerted already: nothing more to say.
  if (r.aborted || held || r.overlap.endedByOperator() || running === undefined || running.length === 0)
    return alert;
  alert = `${stillRunning(running)} at the overlap's max; ${revoking} anyway`;
  r.status.alerts.push(alert);
  await r.raiseAlert('jobs-still-running', alert);
  return alert;
}

const stillRunning = (jobs: RunningJob[]) =>
  `${jobs.length} job${jobs.length === 1 ? '' : 's'} started before the switch still ran (${named(jobs).join(', ')})`;
