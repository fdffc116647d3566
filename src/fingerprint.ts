import { createHash } from 'node:crypto';
import { HELD_FIELDS } from './oauth2/refresh-token';

/**
 * What a token's fingerprint hashes before the token: names the purpose and the version, so that the same
 * token hashed for anything else never gives the same digest, and a v2 can change the recipe.
 */
const DOMAIN = 'cred-rotator token fingerprint v1\0';
const PREFIX = 'sha256:v1:';

/**
 * A token's fingerprint, `sha256:v1:<hex>`: what lets an alert about a leaked value be matched to its
 * credential without reading every secret. Tokens are high-entropy, so the digest cannot be reversed nor
 * guessed; it is still kept in the store only, beside the value (docs/security.md, "Token fingerprints").
 */
export function fingerprintOf(token: string): string {
  return PREFIX + createHash('sha256').update(DOMAIN).update(token, 'utf8').digest('hex');
}

/**
 * Each field of a credential's secret that holds a token, and the field beside it for its fingerprint:
 * the value the targets receive, and an OAuth2 grant's tokens.
 */
export const FINGERPRINTED_FIELDS = {
  token: 'tokenFingerprint',
  [HELD_FIELDS.refreshToken]: 'refreshTokenFingerprint',
  [HELD_FIELDS.accessToken]: 'accessTokenFingerprint',
} as const;

const fingerprinted = Object.entries(FINGERPRINTED_FIELDS);

/** The fingerprint fields of a secret's token fields: what is written beside them. */
export function fingerprintsOf(data: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    fingerprinted.flatMap(([field, beside]) => {
      const token = data[field];
      return token === undefined ? [] : [[beside, fingerprintOf(token)]];
    }),
  );
}

/** Whether a token field's fingerprint is there and right; names fields, never values. */
export interface FingerprintProblem {
  field: string;
  /** The field the fingerprint belongs in. */
  beside: string;
  problem: 'missing' | 'mismatch';
}

/** The token fields of a secret whose fingerprint is missing, or does not match the token beside it. */
export function fingerprintProblems(data: Readonly<Record<string, string>>): FingerprintProblem[] {
  const expected = fingerprintsOf(data);
  return fingerprinted.flatMap(([field, beside]): FingerprintProblem[] => {
    const wanted = expected[beside];
    if (wanted === undefined) return [];
    const found = data[beside];
    if (found === undefined || found === '') return [{ field, beside, problem: 'missing' }];
    return found === wanted ? [] : [{ field, beside, problem: 'mismatch' }];
  });
}
