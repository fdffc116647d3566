import { z } from 'zod';

/** Where a leak was reported from. */
export const LEAK_SOURCES = ['github-secret-scanning', 'webhook', 'stdin'] as const;

/**
 * What starts a break-glass rotation: the credential a leaked token's fingerprint matched, which of its
 * versions held it, and the alert. The token itself is forgotten at intake: only its fingerprint travels.
 */
export const breakGlassRequestSchema = z
  .object({
    credentialId: z.string().min(1),
    leaked: z
      .object({
        fingerprint: z.string().regex(/^sha256:v1:[0-9a-f]{64}$/, 'a sha256:v1 fingerprint'),
        /** The secret's field that held the token: `token`, or an OAuth2 grant's refresh or access token. */
        field: z.string().min(1),
        /** The store's version that held it, as the match found it. */
        version: z.enum(['current', 'previous']),
        /** The provider's id of the leaked token, as stored beside it (`tokenId`), when the secret has one. */
        tokenId: z.string().min(1).optional(),
      })
      .strict(),
    alert: z
      .object({
        source: z.enum(LEAK_SOURCES),
        /** The delivery id, the alert's number, or the operator's incident id: one per reported leak. */
        id: z.string().min(1).max(200),
        receivedAt: z.string().datetime(),
        url: z.string().url().optional(),
        reportedBy: z.string().min(1).optional(),
      })
      .strict(),
    requestedBy: z.string().min(1),
  })
  .strict();

export type BreakGlassRequest = z.infer<typeof breakGlassRequestSchema>;

/** A break-glass rotation's workflow id: its own prefix, so that it never waits behind `rotate/<id>`. */
export const breakGlassWorkflowId = (credentialId: string) => `break-glass/${credentialId}`;
