import type { Found } from './types';

const DAY_MS = 86_400_000;

/** The UTC day of a date or timestamp, as found tokens' expiries are. */
const dayOf = (expiresAt: string) => new Date(expiresAt).toISOString().slice(0, 10);

/**
 * A managed credential's current token and when it expires, as the rotator knows it: the store's current
 * version names the token, and its source's inspect (the health check's) says when it expires.
 */
export interface ManagedExpiry {
  credentialId: string;
  /** The current token, as its source names it. */
  tokenId: string;
  /** `YYYY-MM-DD`, or an ISO timestamp (an OAuth2 grant's); null when it never expires. */
  expiresAt: string | null;
}

/** One ISO week of the expiry horizon: how many tokens expire in it, managed and not. */
export interface HorizonWeek {
  /** ISO 8601 week, `2026-W51`. */
  week: string;
  /** Its Monday, `YYYY-MM-DD`. */
  monday: string;
  managed: number;
  unmanaged: number;
  /** More tokens expire this week than `discovery.horizonCliff`. */
  cliff: boolean;
}

/** The ISO 8601 week of a day (UTC): weeks start on Monday, and week 1 holds the year's first Thursday. */
export function isoWeek(day: Date): { week: string; monday: Date } {
  const midnight = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate());
  const weekday = (new Date(midnight).getUTCDay() + 6) % 7;
  const monday = new Date(midnight - weekday * DAY_MS);
  const thursday = new Date(monday.getTime() + 3 * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return { week: `${year}-W${String(week).padStart(2, '0')}`, monday };
}

/**
 * The listing, each token that is a managed credential's current token marked managed by it: an
 * administrator's list of personal tokens repeats the tokens of project and group bots and of service
 * accounts, also outside the watched places, where no credential's source names them by kind and place.
 */
export function withManaged(found: Found[], managed: ManagedExpiry[]): Found[] {
  const owners = new Map(managed.map(({ tokenId, credentialId }) => [tokenId, credentialId]));
  return found.map((item) => {
    const owner = item.role === 'token' && item.tokenId !== undefined ? owners.get(item.tokenId) : undefined;
    return item.managedBy === undefined && owner !== undefined ? { ...item, managedBy: owner } : item;
  });
}

/**
 * Every ISO week from `now`'s to the one `horizonMs` ahead, each with the tokens that expire in it from today
 * on: managed (a credential names it) and unmanaged. The listing `found` counts as it is; each of `managed`
 * counts as well unless the listing found a token of that credential, so that a token both watched and
 * managed counts once. Variables and secrets have no expiry and do not count.
 */
export function expiryHorizon(
  found: Found[],
  now: Date,
  horizonMs: number,
  cliff: number,
  managed: ManagedExpiry[] = [],
): HorizonWeek[] {
  const weeks = new Map<string, HorizonWeek>();
  const last = isoWeek(new Date(now.getTime() + horizonMs)).monday.getTime();
  for (let at = isoWeek(now).monday.getTime(); at <= last; at += 7 * DAY_MS) {
    const { week, monday } = isoWeek(new Date(at));
    weeks.set(week, {
      week,
      monday: monday.toISOString().slice(0, 10),
      managed: 0,
      unmanaged: 0,
      cliff: false,
    });
  }
  const today = now.toISOString().slice(0, 10);
  const end = new Date(now.getTime() + horizonMs).toISOString().slice(0, 10);
  const tokens = withManaged(found, managed).filter((item) => item.role === 'token');
  const listed = new Set(tokens.map((item) => item.managedBy));
  const expiries = [
    ...tokens.map((item) => ({ expiresAt: item.expiresAt, managed: item.managedBy !== undefined })),
    ...managed
      .filter(({ credentialId }) => !listed.has(credentialId))
      .map(({ expiresAt }) => ({ expiresAt: expiresAt && dayOf(expiresAt), managed: true })),
  ];
  for (const { expiresAt, managed: isManaged } of expiries) {
    if (typeof expiresAt !== 'string' || expiresAt < today || expiresAt > end) continue;
    const bucket = weeks.get(isoWeek(new Date(`${expiresAt}T00:00:00Z`)).week);
    if (bucket === undefined) continue;
    if (isManaged) bucket.managed += 1;
    else bucket.unmanaged += 1;
  }
  return [...weeks.values()].map((week) => ({ ...week, cliff: week.managed + week.unmanaged > cliff }));
}

/** The unmanaged tokens that expire from today to `withinMs` ahead, soonest first. */
export function unmanagedExpiring(found: Found[], now: Date, withinMs: number): Found[] {
  const today = now.toISOString().slice(0, 10);
  const end = new Date(now.getTime() + withinMs).toISOString().slice(0, 10);
  return found
    .filter(
      (item) =>
        item.role === 'token' &&
        item.managedBy === undefined &&
        typeof item.expiresAt === 'string' &&
        item.expiresAt >= today &&
        item.expiresAt <= end,
    )
    .sort((a, b) => String(a.expiresAt).localeCompare(String(b.expiresAt)));
}
