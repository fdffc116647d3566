import { humanDuration } from '../../src/human-duration';
import type { Rotation } from '../rotation';
import type { IncidentRecord } from '../status';

/** How long a break-glass rotation waits for its review before it closes unreviewed, with an alert. */
const REVIEW_WAIT_MS = 7 * 24 * 60 * 60_000;

/**
 * With `policy.breakGlassReview`: once the leak is contained, the break-glass rotation stays open in phase
 * `awaiting-review` until an approver acknowledges it with a signed approval (`rotator approve <id>
 * --break-glass`), verified as approvals are; the reviewer is recorded in the incident and the audit log.
 * Nothing waits on the review: the leaked token is revoked already. Unreviewed after REVIEW_WAIT_MS, the
 * rotation closes with an alert saying so.
 */
export async function review(r: Rotation, incident: IncidentRecord): Promise<void> {
  if (r.plan.policy.breakGlassReview !== true) return;
  const wait = humanDuration(REVIEW_WAIT_MS);
  r.shown.approvalUntil = new Date(Date.now() + REVIEW_WAIT_MS).toISOString();
  const reviewedBy = await r.step('review', 'awaiting-review', () =>
    r.approval(
      REVIEW_WAIT_MS,
      `wait up to ${wait} for an approver's review (\`rotator approve ${r.id} --break-glass\`), then close unreviewed`,
    ),
  );
  if (reviewedBy === undefined) {
    const alert = `the break-glass rotation of ${r.id} was not reviewed within ${wait}: an approver should look at it`;
    r.status.alerts.push(alert);
    await r.raiseAlert('needs-operator', alert);
    return;
  }
  incident.timeline.reviewedBy = reviewedBy;
  incident.timeline.reviewedAt = new Date().toISOString();
  r.audit.approved(reviewedBy, r.status.approvalKey);
  const detail = `break-glass rotation of ${r.id} reviewed by ${reviewedBy}`;
  const unrecorded = await r.audit.recordOutcome('reviewed', 'ok', detail);
  if (unrecorded !== '') r.status.alerts.push(`${detail}${unrecorded}`);
}
