import type { z } from 'zod';
import { breakGlassRequestSchema, type BreakGlassRequest } from './request';

/**
 * What the break-glass workflow takes: the request without the leaked token's fingerprint. A fingerprint
 * never enters a workflow input or history (docs/security.md, "Token fingerprints"), and its work is done
 * once intake matched it to the credential, its version and its token id.
 */
export const breakGlassInputSchema = breakGlassRequestSchema
  .extend({ leaked: breakGlassRequestSchema.shape.leaked.omit({ fingerprint: true }).strict() })
  .strict();
export type BreakGlassInput = z.infer<typeof breakGlassInputSchema>;

/** The request as the workflow takes it: everything but the fingerprint. */
export function breakGlassInput({ leaked, ...request }: BreakGlassRequest): BreakGlassInput {
  const { field, version, tokenId } = leaked;
  return { ...request, leaked: { field, version, ...(tokenId === undefined ? {} : { tokenId }) } };
}
