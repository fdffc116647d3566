import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { breakGlassInputSchema, type BreakGlassInput } from '../src/incidents/input';
import { rotationWorkflowId } from '../src/rotation-names';
import { parseOrThrow } from '../src/validation';
import { abort, endOverlapNow } from '../workflows/operator';
import {
  statusQuery,
  type IncidentRecord,
  type RotationPhase,
  type RotationStatus,
} from '../workflows/status';
import { asActivity } from './failures';

const preemptInputSchema = z
  .object({
    credentialId: z.string().min(1),
    /** Who the break-glass rotation acts for: the abort or end-overlap names them. */
    requestedBy: z.string().min(1),
    /** Why, in the operator's words: the abort's reason. */
    reason: z.string().min(1),
  })
  .strict();
export type PreemptInput = z.infer<typeof preemptInputSchema>;

/** A normal rotation that was in flight, what was done about it, and its status once it ended (or was left). */
export type Preempted = NonNullable<IncidentRecord['preempted']> & { status: RotationStatus };

/** Phases of a normal rotation before promote: `abort` rolls it back, so that the store and targets are as they were. */
const BEFORE_PROMOTE: ReadonlySet<RotationPhase> = new Set([
  'loading',
  'detecting',
  'awaiting-approval',
  'pausing',
  'issuing',
  'recovering',
  'verifying',
  'distributing',
  'promoting',
]);
/** How often the normal rotation's status is asked while it moves to a phase that can be acted on, or ends. */
const POLL_MS = 500;
const HEARTBEAT_MS = 2_000;

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

/**
 * Stops the normal rotation of the credential (`rotate/<id>`) in flight, if any, so that only the break-glass
 * rotation changes the credential: before promote it is aborted (it rolls back), in its overlap window its
 * overlap is ended (it revokes its old token at once); then its end is waited for. A rollback stuck for an
 * operator is left to them. Answers undefined when no normal rotation runs.
 */
export function createBreakGlassActivities() {
  return {
    /**
     * The break-glass workflow's input, checked here rather than in the workflow: zod in the workflow bundle
     * is instantiated again for every cached workflow (about 2.8 MB each).
     */
    async checkBreakGlassInput(input: unknown): Promise<BreakGlassInput> {
      return asActivity(async () => parseOrThrow(breakGlassInputSchema, input, 'breakGlass input'));
    },
    async preemptRotation(input: PreemptInput): Promise<Preempted | undefined> {
      return asActivity(async () => {
        const { credentialId, requestedBy, reason } = parseOrThrow(
          preemptInputSchema,
          input,
          'preemptRotation input',
        );
        const { client } = Context.current();
        const workflowId = rotationWorkflowId(credentialId);
        let runId: string;
        try {
          const described = await client.workflow.getHandle(workflowId).describe();
          if (described.status.name !== 'RUNNING') return undefined;
          runId = described.runId;
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) return undefined;
          throw error;
        }
        const handle = client.workflow.getHandle(workflowId, runId);
        const heartbeat = setInterval(() => Context.current().heartbeat(), HEARTBEAT_MS);
        try {
          const found = await handle.query(statusQuery);
          const action = await actOn(handle, { requestedBy, reason });
          const status = await untilEnded(handle);
          return {
            workflowId,
            phase: found.phase,
            action: status.phase === 'done' ? action : 'left-to-operator',
            status,
          };
        } finally {
          clearInterval(heartbeat);
        }
      });
    },
  };
}

/** Aborts the rotation before promote, or ends its overlap; waits while it is between the two. */
async function actOn(
  handle: WorkflowHandle,
  { requestedBy, reason }: Omit<PreemptInput, 'credentialId'>,
): Promise<NonNullable<Preempted['action']>> {
  for (;;) {
    const status = await handle.query(statusQuery);
    if (status.abortedBy !== undefined || status.phase === 'done') return 'waited';
    if (['revoking', 'rolling-back', 'needs-operator'].includes(status.phase)) return 'waited';
    try {
      if (BEFORE_PROMOTE.has(status.phase)) {
        await handle.executeUpdate(abort, { args: [{ requestedBy, reason }] });
        return 'aborted';
      }
      if (status.phase === 'overlapping') {
        await handle.executeUpdate(endOverlapNow, { args: [{ requestedBy }] });
        return 'overlap-ended';
      }
    } catch (error) {
      // Refused because the rotation moved on in between: look at it again.
      if (!(error instanceof WorkflowUpdateFailedError)) throw error;
    }
    await sleep(POLL_MS);
  }
}

/** Its status once it is done, or once its rollback awaits an operator. */
async function untilEnded(handle: WorkflowHandle): Promise<RotationStatus> {
  for (;;) {
    const status = await handle.query(statusQuery);
    if (status.phase === 'done' || status.phase === 'needs-operator') return status;
    await sleep(POLL_MS);
  }
}
