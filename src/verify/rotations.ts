import type { Client } from '@temporalio/client';
import type { AuditEntry } from '../audit';
import { rotationRun, rotationRuns, type RotationRun } from '../cli/context';
import { statusQuery, type RotationPhase, type RotationStatus } from '../../workflows/status';
import type { Finding, OpenRotation, ViolationKind } from './report';

/** The waits docs/operations.md documents; a rotation found in any other phase is in a step, which takes seconds. */
const WAITING_PHASES: ReadonlySet<RotationPhase> = new Set([
  'awaiting-approval',
  'overlapping',
  'recovering',
  'needs-operator',
  'rolling-back',
]);
/** A status query no worker answers within this long counts as unanswered. */
const QUERY_TIMEOUT_MS = 10_000;
const ROTATION_PREFIX = 'rotate/';

/** A rotation that runs, with what its status query said (nothing, when no worker answered). */
export interface RunningRotation {
  run: RotationRun;
  status?: RotationStatus;
  open: OpenRotation;
}

/** The `status` query of a rotation, bounded: a rotation whose task queue no worker polls never answers. */
async function statusOf(client: Client, run: RotationRun): Promise<RotationStatus | undefined> {
  const handle = client.workflow.getHandle(run.workflowId, run.runId);
  return client.connection
    .withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.query(statusQuery))
    .catch(() => undefined);
}

/**
 * Every rotation open on the task queue, with its phase: a documented wait, a step under way, or a step that
 * has lasted longer than `stuckAfterMs` (workflow time of the step's start against `now`).
 */
export async function openRotations(
  client: Client,
  taskQueue: string,
  now: Date,
  stuckAfterMs: number,
): Promise<RunningRotation[]> {
  const query =
    `WorkflowType = "rotateCredential" AND ExecutionStatus = "Running" AND ` +
    `TaskQueue = ${JSON.stringify(taskQueue)}`;
  const runs: RotationRun[] = [];
  for await (const info of client.workflow.list({ query })) runs.push(rotationRun(info));
  return Promise.all(
    runs.map(async (run) => {
      const status = await statusOf(client, run);
      const credentialId = status?.credentialId ?? run.workflowId.replace(ROTATION_PREFIX, '');
      const base = { credentialId, workflowId: run.workflowId, runId: run.runId };
      if (status === undefined) {
        const message = `no worker answered its status query within ${QUERY_TIMEOUT_MS / 1000}s: is a worker polling ${taskQueue}?`;
        return { run, open: { ...base, state: 'unanswered' as const, message } };
      }
      const phase = status.phase;
      if (WAITING_PHASES.has(phase)) {
        return {
          run,
          status,
          open: { ...base, state: 'waiting' as const, phase, message: `waits in ${phase}` },
        };
      }
      // The innermost step under way: a recovery runs inside the step it recovers.
      const step = [...status.timeline].reverse().find((entry) => entry.endedAt === undefined);
      const since = step?.startedAt ?? run.startedAt;
      const forMs = now.getTime() - Date.parse(since);
      const stuck = forMs > stuckAfterMs;
      const message =
        `in step "${step?.step ?? phase}" since ${since}` +
        (stuck ? `, longer than --stuck-after (${Math.round(stuckAfterMs / 1000)}s)` : '');
      return { run, status, open: { ...base, state: stuck ? 'stuck' : 'under-way', phase, since, message } };
    }),
  );
}

/**
 * The credential's rotations, newest first, down to its last `rotated` one (all of them when none rotated):
 * the ones that can leave it in a terminal state. The open one comes from `openRotations`, with its status.
 */
export async function rotationsSinceRotated(
  client: Client,
  credentialId: string,
  open: RunningRotation | undefined,
): Promise<RotationRun[]> {
  const listed = await rotationRuns(client, credentialId);
  // Visibility may not list a rotation that just started; only one runs at a time, so it is the newest.
  const runs =
    open === undefined ? listed : [open.run, ...listed.filter(({ runId }) => runId !== open.run.runId)];
  const rotated = runs.findIndex(({ state }) => state === 'rotated');
  return rotated === -1 ? runs : runs.slice(0, rotated + 1);
}

/** The ends a person must take over, each announced by the alert of the same kind. */
export type TerminalState = 'needs-operator' | 'compromised' | 'compromised-or-lost';

export function terminalStateOf(
  run: RotationRun,
  status: RotationStatus | undefined,
): TerminalState | undefined {
  if (run.state === 'running') return status?.phase === 'needs-operator' ? 'needs-operator' : undefined;
  return run.outcome === 'compromised' || run.outcome === 'compromised-or-lost' ? run.outcome : undefined;
}

/** The rotation that put a credential in a terminal state, and the rotations after it. */
export interface TerminalRotation {
  state: TerminalState;
  run: RotationRun;
  /** Rotations started after it, newest first: none ended `rotated`, so none cleared it. */
  later: RotationRun[];
}

/**
 * The newest rotation since the last `rotated` one that ended in (or waits in) a terminal state. A later
 * rotation that failed or rolled back leaves the credential as that end left it, so it does not clear the
 * state (judging only the newest rotation would hide a compromised-or-lost end); only a `rotated` one does.
 */
export function terminalRotation(
  runs: RotationRun[],
  open: RunningRotation | undefined,
): TerminalRotation | undefined {
  for (const [index, run] of runs.entries()) {
    if (run.state === 'rotated') return undefined;
    const state = terminalStateOf(run, run.runId === open?.run.runId ? open.status : undefined);
    if (state !== undefined) return { state, run, later: runs.slice(0, index) };
  }
  return undefined;
}

/**
 * Whether a terminal state is documented: the workflow sent its alert (it records a failure `alert <kind>`
 * when it could not), and the audit log holds the rotation's outcome entry. A rotation waiting in
 * needs-operator has not ended, so its outcome entry comes when an operator ends the wait: its own
 * entries up to the failure must be there. A closed rotation is asked for its status too (a worker replays it).
 */
export async function terminalEvidence(
  client: Client,
  state: TerminalState,
  run: RotationRun,
  known: RotationStatus | undefined,
  audit: AuditEntry[],
): Promise<Finding<ViolationKind>[]> {
  const status = known ?? (await statusOf(client, run));
  const problems: string[] = [];
  if (status === undefined) problems.push('no worker answered its status query, so its alert is not shown');
  else if (status.failures.some(({ step }) => step === `alert ${state}`))
    problems.push(`its ${state} alert could not be sent`);
  const entries = audit.filter((entry) => entry.runId === run.runId);
  if (state === 'needs-operator' ? entries.length === 0 : !entries.some((entry) => entry.outcome === state))
    problems.push(
      state === 'needs-operator'
        ? 'the audit logs hold no entry of this run'
        : `the audit logs hold no "${state}" outcome entry of this run`,
    );
  return problems.map((problem) => ({
    kind: 'terminal-unproven' as const,
    message: `${run.workflowId} (run ${run.runId}) is ${state}, but ${problem}`,
  }));
}
