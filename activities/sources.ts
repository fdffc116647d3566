import { z } from 'zod';
import { ProviderError } from '../src/providers/errors';
import type { CredentialState } from '../src/providers/types';
import { storeVersionSchema } from '../src/stores';
import { alreadyStaged, stageSchema } from './issue';
import { adapterRefSchema, audited, tokenIdSchema, type ProviderCalls } from './provider-calls';

const sourceTokenSchema = z.object({ source: adapterRefSchema, tokenId: tokenIdSchema, ...audited }).strict();
/** `held`: the current version, read for sources whose state lives in the store. */
const inspectInputSchema = sourceTokenSchema.extend({ held: storeVersionSchema.optional() }).strict();
/** `targets`: checked for whether each can hold the new value, before any is written. */
const verifyInputSchema = sourceTokenSchema
  .extend({
    staged: storeVersionSchema,
    expiresAt: z.string(),
    targets: z.array(adapterRefSchema).optional(),
  })
  .strict();
const orphansInputSchema = z
  .object({
    source: adapterRefSchema,
    since: z.iso.datetime(),
    known: z.array(tokenIdSchema),
    /** A token the lost attempt staged before its answer was lost is the rotation's, not an orphan. */
    stage: stageSchema.optional(),
  })
  .strict();

export type VerifyCredentialInput = z.infer<typeof verifyInputSchema>;
export type SourceTokenInput = z.infer<typeof sourceTokenSchema>;
export type InspectCredentialInput = z.infer<typeof inspectInputSchema>;
export type FindOrphansInput = z.infer<typeof orphansInputSchema>;

/** What the workflow asks a credential source once the new credential is issued. */
export function createSourceActivities({
  stores,
  record,
  activity,
  valueAt,
  sourceAdapter,
  targetAdapter,
  sourceOf,
}: ProviderCalls) {
  return {
    verifyCredential: activity(
      'verifyCredential',
      verifyInputSchema,
      async ({ source: ref, tokenId, staged, expiresAt, targets = [], audit: context }): Promise<void> => {
        const source = await sourceAdapter(ref);
        const value = await valueAt(staged);
        for (const target of targets) {
          const received = target.field === undefined ? value : await valueAt(staged, target.field);
          const refusal = (await targetAdapter(target)).refuses?.(target.spec, received);
          if (refusal !== undefined) {
            throw new ProviderError({
              provider: target.kind,
              step: 'verify',
              resource: `new token ${tokenId}`,
              kind: 'permanent',
              reason: refusal,
            });
          }
        }
        await source.verify(ref.spec, value, { tokenId, expiresAt });
        await record(context, { event: 'verified', tokenId, vault: { staged: staged.version } });
      },
    ),

    inspectCredential: activity(
      'inspectCredential',
      inspectInputSchema,
      async ({ source: ref, tokenId, held }): Promise<CredentialState> => {
        const { source, heldSecret } = await sourceOf(ref, held);
        return source.inspect(ref.spec, { tokenId }, heldSecret);
      },
    ),

    revokeCredential: activity(
      'revokeCredential',
      sourceTokenSchema,
      async ({ source: ref, tokenId, audit: context }): Promise<void> => {
        await (await sourceAdapter(ref)).revoke(ref.spec, { tokenId });
        await record(context, { event: 'revoked', tokenId });
      },
    ),

    /** After a mint whose answer was lost: the credentials it may have left behind, for the workflow to revoke. */
    findOrphanCredentials: activity(
      'findOrphanCredentials',
      orphansInputSchema,
      async ({ source: ref, since, known, stage }): Promise<CredentialState[]> => {
        const source = await sourceAdapter(ref);
        const staged = stage === undefined ? undefined : await alreadyStaged(stores, stage);
        const ours = staged === undefined ? known : [...known, staged.tokenId];
        return source.findOrphans(
          ref.spec,
          since,
          ours.map((tokenId) => ({ tokenId })),
        );
      },
    ),
  };
}
