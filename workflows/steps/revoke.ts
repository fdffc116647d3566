import { run } from '../calls';
import type { Rotation } from '../rotation';

/** Revokes the old token, the last step: past it nothing can be rolled back. */
export function revokeOld(r: Rotation, alert: string | undefined): Promise<void> {
  const { plan, detection } = r;
  const tokenId = detection.currentTokenId;
  return r.step('revoke old', 'revoking', () =>
    r.recover('revoke old', () =>
      run('revokeCredential', `revoke old token ${tokenId} of ${plan.source.name}`, [
        {
          source: plan.source.ref,
          tokenId,
          audit: {
            ...r.audit.context('revoke old', plan.source.name),
            ...(alert === undefined ? {} : { alert }),
          },
        },
      ]),
    ),
  );
}
