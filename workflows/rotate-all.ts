import { ApplicationFailure, ChildWorkflowFailure, defineQuery, setHandler } from '@temporalio/workflow';
import type { RotationRequest } from '../activities/rotation';
import { inLanes } from '../src/parallel';
import { rotationWorkflowId } from '../src/rotation-names';
import { startRotationChild } from './start-rotation';
import type { RotationOutcome } from './status';
import { FAILURE_TYPES } from '../src/failure-types';

/** Rotates many credentials, each as its own `rotateCredential` child, so many at a time. */
export interface RotateAllRequest {
  credentialIds: string[];
  reason: RotationRequest['reason'];
  requestedBy: string;
  /** How many rotations run at once (at least 1). */
  concurrency: number;
  force?: boolean;
  dryRun?: boolean;
}

/** A rotation's outcome, or why none ran: another rotation of the credential was running already. */
export type RotateAllOutcome = RotationOutcome | 'already-running';

export interface RotateAllResult {
  credentialId: string;
  /** `rotate/<credentialId>`: the child, or the rotation that was already running. */
  workflowId: string;
  runId?: string;
  outcome: RotateAllOutcome;
  detail: string;
}

/** What the `progress` query answers while the rotations run, and what the workflow returns at the end. */
export interface RotateAllProgress {
  total: number;
  /** Credentials rotating now. */
  running: string[];
  /** Finished rotations, in the order they finished. */
  results: RotateAllResult[];
}

export const rotateAllProgress = defineQuery<RotateAllProgress>('progress');

/**
 * The incident path: rotates every credential given with bounded concurrency. Each child has the workflow
 * id `rotate/<credentialId>`, so Temporal refuses a child while another rotation of that credential runs
 * (outcome `already-running`). Children are abandoned rather than terminated should this workflow end
 * early: a rotation must never be cut off in the middle, where only its own rollback may stop it.
 */
export async function rotateAll(request: RotateAllRequest): Promise<RotateAllProgress> {
  const progress: RotateAllProgress = { total: request.credentialIds.length, running: [], results: [] };
  setHandler(rotateAllProgress, () => progress);
  if (!Number.isInteger(request.concurrency) || request.concurrency < 1) {
    throw ApplicationFailure.nonRetryable('concurrency: expected a whole number of at least 1');
  }
  const rotate = async (credentialId: string): Promise<RotateAllResult> => {
    const workflowId = rotationWorkflowId(credentialId);
    const child = await startRotationChild(
      {
        credentialId,
        reason: request.reason,
        requestedBy: request.requestedBy,
        ...(request.force === true ? { force: true } : {}),
        ...(request.dryRun === true ? { dryRun: true } : {}),
      },
      'rotate-all',
    );
    if (child === undefined)
      return { credentialId, workflowId, outcome: 'already-running', detail: 'another rotation was running' };
    const runId = child.firstExecutionRunId;
    try {
      const status = await child.result();
      return {
        credentialId,
        workflowId,
        runId,
        outcome: status.outcome ?? 'failed',
        detail: status.detail ?? '',
      };
    } catch (error) {
      // A rotation that rolled back fails with RotationRolledBack; one that failed after promote, otherwise.
      const cause = error instanceof ChildWorkflowFailure ? error.cause : undefined;
      const rolledBack = cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.rolledBack;
      return {
        credentialId,
        workflowId,
        runId,
        outcome: rolledBack ? 'rolled-back' : 'failed',
        detail: (cause ?? (error as Error)).message,
      };
    }
  };

  await inLanes(request.credentialIds, request.concurrency, async (credentialId) => {
    progress.running.push(credentialId);
    const result = await rotate(credentialId);
    progress.running = progress.running.filter((id) => id !== credentialId);
    progress.results.push(result);
  });
  return progress;
}
