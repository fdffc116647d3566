import { CancellationScope, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AuditContext } from '../activities/audit';
import type { RotationOutcomeInput, RotationRequest } from '../activities/rotation';
import { messageOf } from './failures';
import { compensating } from './calls';
import type { RotationStatus } from './status';

/** An outcome entry must get through like an undo: it is the audit log's only record of the end. */
const recording = compensating();
const { recordRotationOutcome } = proxyActivities<Activities>(recording);

/** The audit context each step activity records its events with, and the ends the workflow records itself. */
export function auditTrail(request: RotationRequest, status: RotationStatus) {
  /*
   * An approval or a recovery is recorded by the next step activity, before its own event. Until a step
   * succeeds, what it was handed may be unrecorded, so the outcome entry of a failed rotation carries it.
   */
  let unrecorded: Pick<AuditContext, 'approvedBy' | 'approvalKey' | 'recovered' | 'canarySkipped'> = {};
  let handedOut: typeof unrecorded = {};
  const context = (step: string, resource?: string): AuditContext => {
    const audit = {
      credentialId: request.credentialId,
      step,
      actor: request.requestedBy,
      reason: request.reason,
      resource,
      ...unrecorded,
    };
    handedOut = { ...handedOut, ...unrecorded };
    unrecorded = {};
    return audit;
  };
  return {
    context,
    approved: (approvedBy: string, approvalKey: string | undefined) => {
      unrecorded.approvedBy = approvedBy;
      if (approvalKey !== undefined) unrecorded.approvalKey = approvalKey;
    },
    recovered: (detail: string) => {
      unrecorded.recovered = detail;
    },
    canarySkipped: (detail: string) => {
      unrecorded.canarySkipped = detail;
    },
    /** A step succeeded: every activity in it recorded what it was handed. */
    stepSucceeded: () => {
      handedOut = {};
    },
    /**
     * Records an end that the workflow decided rather than a step; cancellation cannot keep it out of the
     * log. Answers what to add to the failure message should recording fail.
     */
    recordOutcome: async (
      event: RotationOutcomeInput['event'],
      outcome: RotationOutcomeInput['outcome'],
      detail: string,
    ): Promise<string> =>
      CancellationScope.nonCancellable(() =>
        recordRotationOutcome.executeWithOptions(
          { ...recording, summary: `record "${event}" for ${request.credentialId} in the audit log` },
          [
            {
              audit: { ...context(status.timeline.at(-1)?.step ?? 'load'), ...handedOut },
              event,
              outcome,
              detail,
            },
          ],
        ),
      ).then(
        () => '',
        (error: unknown) => `; recording it in the audit log FAILED (${messageOf(error)})`,
      ),
  };
}
