import { HELD_FIELDS } from './oauth2/refresh-token';

/** The field of a credential's Vault secret that holds the value its targets receive. */
export const VALUE_FIELD = 'token';

/**
 * The fields of a credential's Vault secret that each rotation writes: the value, the provider's id for it,
 * its expiry, and what a source that keeps its state in Vault stores beside them. Every other field belongs
 * to the operator and is carried over to each new version.
 */
export const ROTATED_FIELDS: readonly string[] = [
  ...new Set([VALUE_FIELD, 'tokenId', 'expiresAt', ...Object.values(HELD_FIELDS)]),
];
