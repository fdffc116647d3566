import { Context } from '@temporalio/activity';
import { z } from 'zod';
import type { AuditEvent, AuditSink } from '../src/audit';

/**
 * What a step activity needs to write its audit entries: whose rotation, which step, who asked and why,
 * and who approved it when the approval is not recorded yet. Activities called outside a rotation (tests of
 * the adapters alone) leave it out and record nothing.
 */
export const auditContextSchema = z
  .object({
    credentialId: z.string().min(1),
    step: z.string().min(1),
    actor: z.string().min(1),
    reason: z.string().min(1),
    resource: z.string().min(1).optional(),
    approvedBy: z.string().min(1).optional(),
    /** The fingerprint of the key the approval's signature was verified with. */
    approvalKey: z.string().min(1).optional(),
    /** An alert the workflow raised before this step (there is no alert sink yet): the events' detail. */
    alert: z.string().min(1).optional(),
    /** What the workflow recovered from before this step ran again: recorded before the step's own event. */
    recovered: z.string().min(1).optional(),
    /** Who skipped the canary and why (`--skip-canary`): recorded before the step's own event. */
    canarySkipped: z.string().min(1).optional(),
  })
  .strict();
export type AuditContext = z.infer<typeof auditContextSchema>;

/** What a step adds to its context: the event and what it touched. */
export type StepEvent = Pick<AuditEvent, 'event' | 'vault' | 'tokenId' | 'replacesTokenId' | 'detail'> &
  Partial<Pick<AuditEvent, 'outcome'>>;

/**
 * Appends a step's events after the step has succeeded, preceded by the approval and the recovery it
 * carries, if any.
 */
export function auditRecorder(sink: AuditSink) {
  return async (context: AuditContext | undefined, ...events: StepEvent[]): Promise<void> => {
    if (context === undefined) return;
    const execution = Context.current().info.workflowExecution;
    const { approvedBy, approvalKey, recovered, canarySkipped, actor, resource, alert, ...common } = context;
    const base = {
      ...common,
      workflowId: execution?.workflowId,
      runId: execution?.runId,
      outcome: 'ok' as const,
    };
    const entries: AuditEvent[] = [
      ...(approvedBy === undefined
        ? []
        : [
            {
              ...base,
              step: 'approve',
              event: 'approved' as const,
              actor: approvedBy,
              ...(approvalKey === undefined ? {} : { detail: `signed with key ${approvalKey}` }),
            },
          ]),
      ...(recovered === undefined
        ? []
        : [{ ...base, actor, resource, event: 'recovered' as const, detail: recovered }]),
      ...(canarySkipped === undefined
        ? []
        : [{ ...base, step: 'canary', actor, event: 'canary skipped' as const, detail: canarySkipped }]),
      ...events.map((event) => {
        const detail = [alert, event.detail].filter((text) => text !== undefined).join('; ') || undefined;
        return { ...base, actor, resource, ...event, ...(detail === undefined ? {} : { detail }) };
      }),
    ];
    // Appended together, in this order (the sink queues them), so that one anchor write covers the batch.
    await Promise.all(entries.map((entry) => sink.append(entry)));
  };
}
