import { run } from '../calls';
import type { Rotation } from '../rotation';

/**
 * Proves the new token works against its provider, and that every target can hold it (a masked GitLab variable
 * takes only some characters), before any target sees it; nothing to undo.
 */
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
          targets: plan.targets.map(({ ref }) => ref),
          audit: r.audit.context('verify', plan.source.name),
        },
      ]),
    ),
  );
}
