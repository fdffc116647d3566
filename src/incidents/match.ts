import { FINGERPRINTED_FIELDS, fingerprintOf } from '../fingerprint';
import type { Credential } from '../inventory/schema';
import { inLanes } from '../parallel';
import type { Stores } from '../stores';
import type { SecretData } from '../stores/store';
import type { BreakGlassRequest } from './request';

/** Where a leaked token's fingerprint was found: the credential, its secret's field and which version. */
export type Match = Omit<BreakGlassRequest['leaked'], 'fingerprint'> & { credentialId: string };

/** How many credentials' stores are read at once: the stores' rate limits are shared with the rotations. */
export const MATCH_CONCURRENCY = 4;

/**
 * The token field of `data` whose fingerprint is `fingerprint`. The stored fingerprint beside the field is
 * compared; a version written before fingerprints existed has none, and its token is fingerprinted here, in
 * memory, where it stays (docs/incidents.md, "Matching").
 */
function fieldHolding(data: SecretData, fingerprint: string): string | undefined {
  for (const [field, beside] of Object.entries(FINGERPRINTED_FIELDS)) {
    const token = data[field];
    if (token === undefined) continue;
    const stored = data[beside];
    const found = stored === undefined || stored === '' ? fingerprintOf(token) : stored;
    if (found === fingerprint) return field;
  }
  return undefined;
}

const matchOf = (credentialId: string, data: SecretData, field: string, version: Match['version']): Match => {
  const tokenId = data.tokenId;
  return { credentialId, field, version, ...(tokenId === undefined || tokenId === '' ? {} : { tokenId }) };
};

/** The version of one credential that holds the fingerprint: its current one, else the one before. */
async function matchIn(
  credential: Credential,
  fingerprint: string,
  stores: Stores,
): Promise<Match | undefined> {
  const store = stores.of(credential.store);
  const current = await store.readCurrent(credential.store);
  const inCurrent = fieldHolding(current.data, fingerprint);
  if (inCurrent !== undefined) return matchOf(credential.id, current.data, inCurrent, 'current');
  const previous = await store.readPrevious(current.version);
  if (previous === undefined) return undefined;
  const inPrevious = fieldHolding(previous.data, fingerprint);
  return inPrevious === undefined ? undefined : matchOf(credential.id, previous.data, inPrevious, 'previous');
}

async function matchAmong(
  fingerprint: string,
  credentials: readonly Credential[],
  stores: Stores,
): Promise<Match | undefined> {
  const found: Match[] = [];
  await inLanes(credentials, MATCH_CONCURRENCY, async (credential) => {
    // Once a match is in, the credentials still queued are not read.
    if (found.length > 0) return;
    const match = await matchIn(credential, fingerprint, stores);
    if (match !== undefined) found.push(match);
  });
  // Lanes running side by side can each find one only where two credentials share a token: current wins.
  return found.find((match) => match.version === 'current') ?? found[0];
}

/**
 * Finds which managed credential, field and version held the token whose fingerprint is `fingerprint`,
 * reading each credential's current and previous version, `MATCH_CONCURRENCY` at a time; undefined when
 * no credential of the inventory holds it ("not managed here"). A store that cannot be read fails the
 * match: "not managed here" is said only once every store answered. `hint`, a credential id the reporter
 * names, is read first, and the others only if it does not hold the token.
 */
export async function matchFingerprint(
  fingerprint: string,
  credentials: readonly Credential[],
  stores: Stores,
  hint?: string,
): Promise<Match | undefined> {
  const hinted = credentials.filter(({ id }) => id === hint);
  const inHinted = await matchAmong(fingerprint, hinted, stores);
  if (inHinted !== undefined) return inHinted;
  const others = credentials.filter(({ id }) => id !== hint);
  return matchAmong(fingerprint, others, stores);
}
