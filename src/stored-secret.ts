import { FINGERPRINTED_FIELDS } from './fingerprint';
import { HELD_FIELDS } from './oauth2/refresh-token';

/** The field of a credential's Vault secret that holds the value its targets receive. */
export const VALUE_FIELD = 'token';
/** The field beside the value for a credential that is a username and a token (a GitLab deploy token). */
export const USERNAME_FIELD = 'username';
/** The fields of a credential's secret a target can receive: the value (by default), or the username. */
export const TARGET_FIELDS = [VALUE_FIELD, USERNAME_FIELD] as const;
export type TargetField = (typeof TARGET_FIELDS)[number];

/**
 * The fields of a credential's Vault secret that each rotation writes: the value, the provider's id for it,
 * its expiry, the username of a credential that has one, what a source that keeps its state in Vault stores
 * beside them, and each token's fingerprint.
 * Every other field belongs to the operator and is carried over to each new version.
 */
export const ROTATED_FIELDS: readonly string[] = [
  ...new Set([
    VALUE_FIELD,
    'tokenId',
    'expiresAt',
    USERNAME_FIELD,
    ...Object.values(HELD_FIELDS),
    ...Object.values(FINGERPRINTED_FIELDS),
  ]),
];

/** Whitespace or a control character, which no token, id or timestamp of ours contains. */
const STRAY_CHARACTER = /[\s\p{Cc}]/u;

/**
 * What is wrong with the rotated fields of a credential's Vault secret, each naming its field, never its
 * value. A value written with `vault kv put field=@file` keeps the file's trailing newline, and a refresh
 * token sent with it is refused as `invalid_grant`, which reads as theft. RFC 6749 would allow a space
 * inside a refresh token (VSCHAR); no authorization server we know issues one, so a space is refused too.
 */
export function storedSecretProblems(data: Readonly<Record<string, string>>): string[] {
  return ROTATED_FIELDS.filter((field) => STRAY_CHARACTER.test(data[field] ?? '')).map(
    (field) =>
      `field ${field} holds whitespace or a control character (such as the trailing newline that ` +
      '`vault kv put field=@file` keeps): write it again without',
  );
}
