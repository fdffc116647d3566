import { ApplicationFailure, type ActivityOptions } from '@temporalio/workflow';
import { FAILURE_TYPES } from '../../src/failure-types';
import { once, retried, run } from '../calls';
import { issueSummary } from '../details';
import { classifyFailure, messageOf } from '../failures';
import type { Rotation } from '../rotation';
import { writeEveryTarget } from './distribute';
import { promoteStaged } from './promote';
import type { TokenId } from '../../src/providers/types';

/**
 * Mints the new token and stages it in the store. A lost answer is recovered once: revoke what the lost mint
 * left behind, then create afresh. The undo revokes the new token, or, when rotating in place has revoked
 * the old one already, rolls forward to the new one (nothing brings the old one back).
 */
export async function issue(r: Rotation): Promise<void> {
  const issued = await r
    .step('issue', 'issuing', () => mint(r))
    .catch(async (error: unknown) => {
      if (classifyFailure(error).class !== 'lost-response') throw error;
      const lost = r.status.failures.at(-1);
      const afresh = await recoverLostMint(r).catch((failed: unknown) => noLiveTokenLeft(r, failed));
      if (lost !== undefined) lost.recovered = true;
      return afresh;
    })
    .catch((error: unknown) => {
      const failure = classifyFailure(error);
      if (failure.alert) r.status.alerts.push(`${failure.message} (${r.plan.store.name})`);
      r.markedOutcome = failure.outcome;
      throw error;
    });
  r.issued = issued;
  r.status.newTokenId = issued.tokenId;
  r.status.versions.staged = issued.staged.version;
  r.undo.push(r.rollsForward ? rollForward(r) : revokeNew(r));
}

/** A refused mint (429) changed nothing, so it may run once more; a lost answer has its own recovery. */
const mint = (r: Rotation, recovery?: { orphansRevoked: TokenId[] }) => {
  const { plan, detection } = r;
  return r.recover(
    'issue',
    () =>
      run(
        'issueCredential',
        issueSummary(plan, detection.currentTokenId),
        [
          {
            source: plan.source.ref,
            current: { tokenId: detection.currentTokenId },
            held: detection.current,
            stage: { at: plan.store.ref, after: detection.stagedVersion },
            recovery,
            audit: r.audit.context(recovery === undefined ? 'issue' : 'issue afresh', plan.source.name),
          },
        ],
        once,
      ),
    ['rate-limited'],
  );
};

/**
 * What a lost mint left behind. A token a lost attempt staged is kept for `issue afresh` to take up;
 * rollback has nobody to take it up, so there it is an orphan too.
 */
const findOrphans = (r: Rotation, staged: 'kept' | 'orphaned', options: ActivityOptions) => {
  const { plan, detection, status } = r;
  return run(
    'findOrphanCredentials',
    `find tokens the lost mint of ${plan.source.name} left behind`,
    [
      {
        source: plan.source.ref,
        since: r.detectedAt,
        known: [detection.currentTokenId, ...(status.newTokenId === undefined ? [] : [status.newTokenId])],
        ...(staged === 'kept' ? { stage: { at: plan.store.ref, after: detection.stagedVersion } } : {}),
      },
    ],
    options,
  );
};

const revokeOrphan = (r: Rotation, tokenId: TokenId, step: string, options: ActivityOptions) =>
  run(
    'revokeCredential',
    `revoke orphan token ${tokenId} of ${r.plan.source.name}`,
    [{ source: r.plan.source.ref, tokenId, audit: r.audit.context(step, r.plan.source.name) }],
    options,
  );

/** Once only: revoke what the lost mint left behind, then create afresh (rotating again is reuse). */
async function recoverLostMint(r: Rotation) {
  // Finding them may fail: rollback looks again.
  r.undo.push({
    what: `revoke what the lost mint of ${r.plan.source.name} left behind`,
    run: async () => {
      for (const { tokenId } of await findOrphans(r, 'orphaned', r.undoing))
        await revokeOrphan(r, tokenId, 'rollback', r.undoing);
    },
  });
  const orphans = await r.step('find orphans', 'recovering', () =>
    r.recover('find orphans', () => findOrphans(r, 'kept', retried)),
  );
  for (const { tokenId } of orphans) {
    const step = `revoke orphan token ${tokenId}`;
    await r.step(step, 'recovering', () =>
      r.recover(step, () => revokeOrphan(r, tokenId, 'recover', retried)),
    );
  }
  return r.step('issue afresh', 'issuing', () =>
    mint(r, { orphansRevoked: orphans.map(({ tokenId }) => tokenId) }),
  );
}

/**
 * After a lost mint whose recovery failed too: the lost call may have rotated the old token in place. Then
 * no live token is left, which is `compromised-or-lost`, not a rollback.
 */
async function noLiveTokenLeft(r: Rotation, error: unknown): Promise<never> {
  const { plan, detection } = r;
  const old = await run(
    'inspectCredential',
    `check whether old token ${detection.currentTokenId} is still live`,
    [{ source: plan.source.ref, tokenId: detection.currentTokenId, held: detection.current }],
  ).catch(() => undefined);
  if (old?.revoked !== true) throw error;
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.credentialLost,
    nonRetryable: true,
    message:
      `NO live token is left: the lost call revoked old token ${detection.currentTokenId} by rotating it ` +
      `in place, and a fresh token could not be made (${messageOf(error)}). An operator must create one ` +
      `by hand and write it to ${plan.store.name} (fields token, tokenId, expiresAt)`,
    cause: error instanceof Error ? error : undefined,
  });
}

const revokeNew = (r: Rotation) => ({
  what: `revoke new token ${r.issued.tokenId}`,
  run: () =>
    run(
      'revokeCredential',
      `rollback: revoke new token ${r.issued.tokenId} of ${r.plan.source.name}`,
      [
        {
          source: r.plan.source.ref,
          tokenId: r.issued.tokenId,
          audit: r.audit.context('rollback', r.plan.source.name),
        },
      ],
      r.undoing,
    ),
});

/** Rotating in place revoked the old token: promote the new one and write it everywhere instead. */
const rollForward = (r: Rotation) => ({
  what: `roll forward to new token ${r.issued.tokenId} in ${r.plan.store.name} and every target`,
  run: async () => {
    r.status.alerts.push(
      `token ${r.detection.currentTokenId} was rotated in place, so the rotation rolled forward to new ` +
        `token ${r.issued.tokenId} instead of back: find out why it failed`,
    );
    await promoteStaged(r, 'rollback', r.undoing);
    await writeEveryTarget(r);
  },
});
