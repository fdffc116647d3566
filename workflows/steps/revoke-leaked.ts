import { run } from '../calls';
import type { Rotation } from '../rotation';
import type { TokenId } from '../../src/providers/types';

/**
 * Revokes the leaked token: break-glass's first change, and one no rollback undoes. A leaked token stays
 * revoked whatever happens after; should the rotation fail, the targets hold it dead until a person acts.
 */
export function revokeLeaked(r: Rotation, tokenId: TokenId): Promise<void> {
  const { source } = r.plan;
  return r.step('revoke leaked', 'revoking', () =>
    r.recover('revoke leaked', () =>
      run('revokeCredential', `revoke leaked token ${tokenId} of ${source.name}`, [
        { source: source.ref, tokenId, audit: r.audit.context('revoke leaked', source.name) },
      ]),
    ),
  );
}

/** Asks the provider whether the leaked token is revoked already; nothing to undo. */
export async function isRevoked(r: Rotation, tokenId: TokenId): Promise<boolean> {
  const { source } = r.plan;
  const step = `check whether leaked token ${tokenId} is revoked`;
  const state = await r.step(step, 'revoking', () =>
    r.recover(step, () => run('inspectCredential', step, [{ source: source.ref, tokenId }])),
  );
  return state.revoked;
}
