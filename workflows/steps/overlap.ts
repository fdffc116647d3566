import { run } from '../calls';
import { recordDecision } from '../operator';
import type { Rotation } from '../rotation';
import { drainJobs } from './drain';

/** The least an overlap is extended by when the old token is still used after the switch. */
const MIN_USED_EXTENSION_MS = 60_000;

/**
 * Both tokens stay valid for the policy's overlap; then, job-aware, until the jobs that started before the
 * switch end (steps/drain.ts), or else an old token used after the switch extends it once, with an alert.
 * Answers that alert, for the revoke's audit entry.
 */
export function overlap(r: Rotation): Promise<string | undefined> {
  const { plan, issued, detection } = r;
  return r.step('overlap window', 'overlapping', async () => {
    if (issued.revokedTokenId !== undefined) {
      await r.overlap(
        plan.policy.overlap,
        `ending (rotating in place revoked token ${issued.revokedTokenId} already)`,
      );
      return undefined;
    }
    await r.overlap(plan.policy.overlap, `revoking old token ${detection.currentTokenId}`);
    // Aborted in the window: the old token stays, so whoever still uses it is no concern.
    if (r.aborted) return undefined;
    // Job-aware: the jobs that may hold the old token, not its last use, say when it can go. Only a plan
    // with `drain` takes this branch, and no history from before it has one: no patch is needed.
    if (plan.policy.drain !== undefined && !r.overlap.endedByOperator())
      return drainJobs(r, plan.policy.drain);
    const alert = await oldTokenStillUsed(r);
    if (alert === undefined) return undefined;
    r.status.alerts.push(alert);
    recordDecision(r.status, 'old token still used after the switch: overlap extended once');
    // The alert goes out while the extended window runs, which an operator may end at once.
    const alerted = r.raiseAlert('old-token-still-used', alert);
    // Once only: after this extension the old token is revoked whoever still holds it.
    await r.overlap(
      Math.max(plan.policy.overlap, MIN_USED_EXTENSION_MS),
      `revoking old token ${detection.currentTokenId}, still used after the switch`,
    );
    await alerted;
    return alert;
  });
}

/**
 * Whether the provider saw the old token used after the targets switched: an alert if so. GitLab updates
 * `last_used_at` at most every ~10 minutes, so a use shortly before the switch may show as later, and a
 * use shortly after may not show yet; a null (never used, or not reported) counts as unused.
 */
async function oldTokenStillUsed(r: Rotation): Promise<string | undefined> {
  const tokenId = r.detection.currentTokenId;
  const step = `check whether old token ${tokenId} is still used`;
  const old = await r.recover(step, () =>
    run('inspectCredential', step, [{ source: r.plan.source.ref, tokenId }]),
  );
  const { switchedAt } = r.status;
  if (old.lastUsedAt === null || switchedAt === undefined) return undefined;
  if (Date.parse(old.lastUsedAt) <= Date.parse(switchedAt)) return undefined;
  return (
    `old token ${tokenId} was used at ${old.lastUsedAt}, after the targets switched at ${switchedAt}: ` +
    `something still holds it; overlap extended once, then revoked`
  );
}
