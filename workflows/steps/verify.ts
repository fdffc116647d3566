import { run } from '../calls';
import type { Rotation } from '../rotation';

/** Proves the new token works against its provider before any target sees it; nothing to undo. */
export function verify(r: Rotation): Promise<void> {
  const { issued, plan } = r;
  return r.step('verify', 'verifying', () =>
    r.recover('verify', () =>
      run('verifyCredential', `verify that new token ${issued.tokenId} works against its provider`, [
        {
          source: plan.source.ref,
          tokenId: issued.tokenId,
          staged: issued.staged,
          expiresAt: issued.expiresAt,
          audit: r.audit.context('verify', plan.source.name),
        },
      ]),
    ),
  );
}
