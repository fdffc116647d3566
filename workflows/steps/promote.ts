import type { ActivityOptions } from '@temporalio/workflow';
import { retried, run } from '../calls';
import type { Rotation } from '../rotation';

/** Makes the staged version current, if the current one is still what detect read (check-and-set). */
export function promoteStaged(r: Rotation, step: 'promote' | 'rollback', options: ActivityOptions = retried) {
  const { issued, plan, detection } = r;
  const at = `Vault ${plan.vault.mount}/${plan.vault.path}`;
  const summary =
    step === 'rollback'
      ? `roll forward: promote staged v${issued.staged.version} to current`
      : `promote new token ${issued.tokenId} (staged v${issued.staged.version}) to current in ${at}`;
  return run(
    'promoteStaged',
    summary,
    [
      {
        staged: issued.staged,
        current: plan.vault,
        cas: detection.current.version,
        audit: r.audit.context(step, at),
      },
    ],
    options,
  );
}

/** Promotes the new token in Vault, with its undo: put the version detect read back as current. */
export async function promote(r: Rotation): Promise<void> {
  const { issued, plan, detection } = r;
  const kept = `Vault ${plan.vault.mount}/${plan.vault.path} at v${detection.current.version}`;
  const promoted = await r.step('promote', 'promoting', () => {
    // Pushed once promote starts: a promote whose answer was lost may have happened.
    if (!r.rollsForward)
      r.undo.push({
        what: `keep ${kept}`,
        run: async () => {
          const restored = await run(
            'rePromotePrevious',
            `rollback: keep ${kept}`,
            [{ previous: detection.current, promotedTokenId: issued.tokenId }],
            r.undoing,
          );
          r.status.vault.current = restored.version;
        },
      });
    return r.recover('promote', () => promoteStaged(r, 'promote'));
  });
  r.status.vault = {
    current: promoted.version,
    previous: detection.current.version,
    staged: issued.staged.version,
  };
}
