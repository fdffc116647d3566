import type { Rotation } from '../rotation';

/** Waits for an operator's approval when the policy asks for it; answers whether the rotation goes on. */
export async function approve(r: Rotation): Promise<boolean> {
  const { policy } = r.plan;
  if (!policy.requireApproval) return true;
  r.shown.approvalUntil = new Date(Date.now() + policy.approvalTimeout).toISOString();
  const approvedBy = await r.step('approve', 'awaiting-approval', () => r.approval(policy.approvalTimeout));
  if (approvedBy === undefined) return false;
  r.audit.approved(approvedBy, r.status.approvalKey);
  return true;
}
