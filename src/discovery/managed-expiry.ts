import type { CredentialQuestions } from '../../workflows/credential-facts';
import type { RotationPlan } from '../inventory/plan';
import { inLanes } from '../parallel';
import type { ManagedExpiry } from './horizon';

/** Credentials asked at a time, as the health check asks them: a few, far below the providers' rate limits. */
const CONCURRENCY = 4;

/**
 * The expiry of each managed credential's current token, asked with the health check's own questions: the
 * store's current version names the token, and its source's inspect says when it expires. A revoked or
 * inactive token expires nothing more; a credential that cannot be asked is named in `unchecked`, with why.
 */
export async function managedExpiries(
  plans: RotationPlan[],
  ask: Pick<CredentialQuestions, 'readCurrentVersion' | 'inspectCredential' | 'messageOf'>,
): Promise<{ managed: ManagedExpiry[]; unchecked: string[] }> {
  const managed: ManagedExpiry[] = [];
  const unchecked: string[] = [];
  await inLanes(plans, CONCURRENCY, async (plan) => {
    try {
      const current = await ask.readCurrentVersion(plan);
      const token = await ask.inspectCredential(plan, current);
      if (token.active && !token.revoked)
        managed.push({
          credentialId: plan.credentialId,
          tokenId: current.tokenId,
          expiresAt: token.expiresAt,
        });
    } catch (error) {
      unchecked.push(`credential ${plan.credentialId}: not counted: ${ask.messageOf(error)}`);
    }
  });
  return { managed, unchecked };
}
