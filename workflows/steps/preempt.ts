import type { ActivityOptions } from '@temporalio/workflow';
import type { Preempted } from '../../activities/break-glass';
import { rotationWorkflowId } from '../../src/rotation-names';
import { HEARTBEAT_TIMEOUT, run } from '../calls';
import { messageOf } from '../failures';
import { recordDecision } from '../operator';
import type { Rotation } from '../rotation';
import type { IncidentRecord } from '../status';

/** A normal rotation's rollback retries its undo for minutes before it calls an operator: its end is awaited that long. */
const preempting: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
};

/**
 * Stops a normal rotation of the credential in flight, so that only break-glass changes it from here on:
 * before promote it is aborted and its rollback awaited (the store and targets are as they were); in its
 * overlap window, with both tokens live, its overlap is ended, so that it revokes its old token at once,
 * and break-glass goes on against its new one, now current. Which token leaked is decided after this, against
 * what the store then holds. A normal rotation that cannot be stopped is alerted about; break-glass goes on.
 */
export async function preempt(r: Rotation, incident: IncidentRecord): Promise<Preempted | undefined> {
  const normal = rotationWorkflowId(r.id);
  const found = await r
    .step(`preempt ${normal}`, 'preempting', () =>
      run(
        'preemptRotation',
        `stop ${normal} if it runs: abort it before promote, or end its overlap window`,
        [
          {
            credentialId: r.id,
            requestedBy: r.request.requestedBy,
            reason: `break-glass: alert ${incident.alert.id} reports a leaked token`,
          },
        ],
        preempting,
      ),
    )
    .catch(async (error: unknown) => {
      const alert = `${normal} could not be preempted (${messageOf(error)}): break-glass goes on beside it; look at it`;
      r.status.alerts.push(alert);
      await r.raiseAlert('needs-operator', alert);
      return undefined;
    });
  if (found === undefined) return undefined;
  const { status, ...preempted } = found;
  incident.preempted = { ...preempted, ...(status.outcome === undefined ? {} : { outcome: status.outcome }) };
  recordDecision(r.status, decision(found));
  return found;
}

/** The decision about the normal rotation, as the timeline records it. */
function decision({ workflowId, phase, action, status }: Preempted): string {
  const ended = `it ended ${status.outcome ?? status.phase}`;
  switch (action) {
    case 'aborted':
      return `${workflowId} was ${phase}, before promote: aborted and rolled back (${ended})`;
    case 'overlap-ended':
      return (
        `${workflowId} was in its overlap window, old token ${status.oldTokenId ?? '?'} and new token ` +
        `${status.newTokenId ?? '?'} both live: its overlap ended at once, so it revoked the old one (${ended}); ` +
        `break-glass goes on against the new one`
      );
    case 'waited':
      return `${workflowId} was ${phase}: its end awaited (${ended})`;
    case 'left-to-operator':
      return `${workflowId} was ${phase}: its rollback awaits an operator, left to them; break-glass goes on`;
  }
}

/** When the normal rotation revoked `tokenId` as its old token, if it did. */
export function revokedBy(preempted: Preempted | undefined, tokenId: string): string | undefined {
  if (preempted?.status.oldTokenId !== tokenId) return undefined;
  const revoke = preempted.status.timeline.find(
    ({ step, result }) => step === 'revoke old' && result === 'ok',
  );
  return revoke?.endedAt;
}
