import { verify as verifyBytes } from 'node:crypto';
import { mayApprove, sameName } from '../inventory/approvers';
import type { Inventory } from '../inventory/schema';
import { formatIssues, validate } from '../validation';
import {
  approvalSchema,
  approvalStatement,
  parseSshsig,
  sshsigSignedData,
  type RotationFacts,
} from './statement';
import { SshKeyError, parsePublicKey, verifierOf } from './ssh';

/** How old a signature may be: long enough to sign and send, short enough that a leaked one soon expires. */
export const MAX_APPROVAL_AGE_MS = 15 * 60_000;
/** How far the approver's clock may run ahead of the worker's. */
export const MAX_CLOCK_SKEW_MS = 60_000;

export type RefusalReason =
  | 'malformed'
  | 'other-workflow'
  | 'other-run'
  | 'other-credential'
  | 'other-requester'
  | 'self-approval'
  | 'unknown-credential'
  | 'unknown-approver'
  | 'not-eligible'
  | 'stale'
  | 'future'
  | 'wrong-key'
  | 'bad-signature';

export type Verdict =
  { ok: true; approver: string; fingerprint: string } | { ok: false; reason: RefusalReason; message: string };

const refuse = (reason: RefusalReason, message: string): Verdict => ({ ok: false, reason, message });

const FACTS: [keyof RotationFacts, RefusalReason, string][] = [
  ['workflowId', 'other-workflow', 'workflow'],
  ['runId', 'other-run', 'run'],
  ['credentialId', 'other-credential', 'credential'],
  ['requestedBy', 'other-requester', 'requester'],
];

/**
 * Checks an `approve` update's payload against the rotation it arrived at (`rotation`: the workflow's own
 * facts, not the payload's) and the inventory's approvers, at `now`. Answers the approver and the
 * fingerprint of the key that signed, or why the approval is refused; the reasons name people, ids and
 * fingerprints, never a signature.
 */
export function verifyApproval(
  inventory: Pick<Inventory, 'approvers' | 'credentials'>,
  rotation: RotationFacts,
  payload: unknown,
  now: Date,
): Verdict {
  const parsed = validate(approvalSchema, payload);
  if (!parsed.success)
    return refuse('malformed', `the approval is invalid: ${formatIssues(parsed.error).join('; ')}`);
  const approval = parsed.data;

  for (const [field, reason, what] of FACTS) {
    if (approval[field] !== rotation[field]) {
      return refuse(
        reason,
        `the approval was signed for ${what} ${JSON.stringify(approval[field])}, not this rotation's ` +
          `${JSON.stringify(rotation[field])}`,
      );
    }
  }
  if (sameName(approval.approvedBy, rotation.requestedBy)) {
    return refuse(
      'self-approval',
      `${approval.approvedBy} requested this rotation and so cannot approve it: another approver must`,
    );
  }
  const credential = inventory.credentials.find((entry) => entry.id === rotation.credentialId);
  if (credential === undefined) {
    return refuse('unknown-credential', `the inventory has no credential ${rotation.credentialId} any more`);
  }
  const approver = inventory.approvers.find((entry) => sameName(entry.name, approval.approvedBy));
  if (approver === undefined) {
    return refuse(
      'unknown-approver',
      `${approval.approvedBy} is not an approver in the inventory (approvers)`,
    );
  }
  if (!mayApprove(approver, credential)) {
    return refuse(
      'not-eligible',
      `${approver.name} may not approve ${credential.id} (environment ${credential.environment}` +
        `${credential.policy.approvers === undefined ? '' : `, policy.approvers ${credential.policy.approvers.join(', ')}`})`,
    );
  }

  const age = now.getTime() - Date.parse(approval.signedAt);
  if (age > MAX_APPROVAL_AGE_MS) {
    return refuse(
      'stale',
      `the approval was signed at ${approval.signedAt}, more than ${MAX_APPROVAL_AGE_MS / 60_000} minutes ago: sign it again`,
    );
  }
  if (-age > MAX_CLOCK_SKEW_MS) {
    return refuse(
      'future',
      `the approval is signed at ${approval.signedAt}, ahead of the worker's clock (${now.toISOString()}) ` +
        `by more than ${MAX_CLOCK_SKEW_MS / 1000}s: check the approver's clock`,
    );
  }

  const listed = parsePublicKey(approver.publicKey);
  let signature;
  try {
    signature = parseSshsig(Buffer.from(approval.signature, 'base64'));
  } catch (error) {
    if (!(error instanceof SshKeyError)) throw error;
    return refuse('bad-signature', `the signature cannot be used: ${error.message}`);
  }
  if (!signature.publicKey.blob.equals(listed.blob)) {
    return refuse(
      'wrong-key',
      `the approval is signed with key ${signature.publicKey.fingerprint}, not ${approver.name}'s key ` +
        `${listed.fingerprint} (approvers)`,
    );
  }
  const signed = sshsigSignedData(approvalStatement(rotation, approval), signature.hash);
  if (!verifyBytes(null, signed, verifierOf(listed), signature.signature)) {
    return refuse(
      'bad-signature',
      `the signature by ${listed.fingerprint} does not match this approval: it was made for another statement`,
    );
  }
  return { ok: true, approver: approver.name, fingerprint: listed.fingerprint };
}
