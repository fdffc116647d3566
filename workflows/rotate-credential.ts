import type { RotationRequest } from '../activities/rotation';
import { wouldDo } from './details';
import { abortedAfterPromote, failedAfterPromote, notApproved, rolledBack } from './ends';
import { Rotation } from './rotation';
import type { RotationStatus } from './status';
import { approve } from './steps/approve';
import { canary } from './steps/canary';
import { detect } from './steps/detect';
import { pauseDependents, resumeDependents } from './steps/dependents';
import { distribute } from './steps/distribute';
import { issue } from './steps/issue';
import { load } from './steps/load';
import { overlap } from './steps/overlap';
import { promote } from './steps/promote';
import { revokeOld } from './steps/revoke';
import { verify } from './steps/verify';

/**
 * Rotates one credential, step by step as the runbook says (docs/design.md, "The rotation"). Start it with
 * workflow id `rotate/<credentialId>`, so that Temporal refuses a second rotation of the same credential.
 * Each step that changes something registers its undo beside itself; a failure before promote rolls them
 * back, newest first.
 */
export async function rotateCredential(request: RotationRequest): Promise<RotationStatus> {
  const r = new Rotation(request);
  try {
    await load(r);
    await detect(r);
  } catch (error) {
    return rolledBack(r, error);
  }
  if (!r.detection.due) return r.finish('not-due', r.detection.why);
  if (request.dryRun === true) return r.finish('dry-run', wouldDo(r.plan, r.detection.why));
  if (!(await approve(r))) return notApproved(r);

  try {
    await pauseDependents(r);
    await issue(r);
    await verify(r);
    await distribute(r);
    await canary(r);
    await promote(r);
  } catch (error) {
    return rolledBack(r, error);
  }

  // From here on the new token is live everywhere: a failure is reported, never rolled back.
  try {
    if (!r.aborted) await resumeDependents(r);
    const stillUsed = r.aborted ? undefined : await overlap(r);
    if (!r.aborted && !r.rollsForward) await revokeOld(r, stillUsed);
  } catch (error) {
    return failedAfterPromote(r, error);
  }
  if (r.aborted) return abortedAfterPromote(r);
  return r.finish('rotated', `token ${r.detection.currentTokenId} replaced by token ${r.issued.tokenId}`);
}
