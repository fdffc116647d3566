import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256=';

/** `sha256=` and the hex HMAC-SHA256 of `material` under `secret`: how GitHub and the generic webhook sign. */
export function signatureOf(secret: string, material: Buffer | string): string {
  return PREFIX + createHmac('sha256', secret).update(material).digest('hex');
}

/**
 * Whether `header` is the signature of `material` under `secret`. The digests are compared in constant time;
 * a header of another length cannot match, and is refused before the comparison, which requires equal lengths.
 */
export function signatureMatches(
  header: string | undefined,
  secret: string,
  material: Buffer | string,
): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signatureOf(secret, material), 'utf8');
  const given = Buffer.from(header, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
