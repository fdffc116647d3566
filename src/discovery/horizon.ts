import type { Found } from './types';

const DAY_MS = 86_400_000;

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
 * Every ISO week from `now`'s to the one `horizonMs` ahead, each with the tokens that expire in it from today
 * on: managed (a credential names it) and unmanaged. Variables and secrets have no expiry and do not count.
 */
export function expiryHorizon(found: Found[], now: Date, horizonMs: number, cliff: number): HorizonWeek[] {
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
  for (const item of found) {
    const expiresAt = item.expiresAt;
    if (item.role !== 'token' || typeof expiresAt !== 'string' || expiresAt < today || expiresAt > end)
      continue;
    const bucket = weeks.get(isoWeek(new Date(`${expiresAt}T00:00:00Z`)).week);
    if (bucket === undefined) continue;
    if (item.managedBy === undefined) bucket.unmanaged += 1;
    else bucket.managed += 1;
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
