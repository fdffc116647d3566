import type { ActivityOptions } from '@temporalio/workflow';
import { versionLabel } from '../../src/stores/labels';
import { retried, run } from '../calls';
import type { Rotation } from '../rotation';

/** Makes the staged version current, if the current one is still what detect read. */
export function promoteStaged(r: Rotation, step: 'promote' | 'rollback', options: ActivityOptions = retried) {
  const { issued, plan, detection } = r;
  const staged = versionLabel(issued.staged);
  const summary =
    step === 'rollback'
      ? `roll forward: promote staged ${staged} to current`
      : `promote new token ${issued.tokenId} (staged ${staged}) to current in ${plan.store.name}`;
  return run(
    'promoteStaged',
    summary,
    [
      {
        store: plan.store.ref,
        staged: issued.staged,
        replacing: detection.current,
        tokenId: issued.tokenId,
        audit: r.audit.context(step, plan.store.name),
      },
    ],
    options,
  );
}

/** Promotes the new token in the store, with its undo: put the version detect read back as current. */
export async function promote(r: Rotation): Promise<void> {
  const { issued, plan, detection } = r;
  const kept = `${plan.store.name} at ${versionLabel(detection.current)}`;
  const promoted = await r.step('promote', 'promoting', () => {
    // Pushed once promote starts: a promote whose answer was lost may have happened.
    if (!r.rollsForward)
      r.undo.push({
        what: `keep ${kept}`,
        run: async () => {
          const restored = await run(
            'rePromotePrevious',
            `rollback: keep ${kept}`,
            [{ store: plan.store.ref, previous: detection.current, promotedTokenId: issued.tokenId }],
            r.undoing,
          );
          r.status.versions.current = restored.version;
        },
      });
    return r.recover('promote', () => promoteStaged(r, 'promote'));
  });
  r.status.versions = {
    current: promoted.version,
    previous: detection.current.version,
    staged: issued.staged.version,
  };
  // The new version stands wherever the store keeps it; a replica that does not have it is an operator's to fix.
  for (const problem of promoted.replicaProblems ?? []) {
    r.status.alerts.push(problem);
    await r.raiseAlert('replica-not-in-sync', problem);
  }
}
