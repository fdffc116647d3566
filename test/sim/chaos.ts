/**
 * Random faults for the chaos run: unlike the scripted faults of each simulator (the Nth call to a route),
 * these hit any call with the configured probabilities, so that no rotation can count on a clean path.
 */

export interface ChaosSettings {
  /** Share of calls refused before they are handled (half 503, half 429): nothing changes. */
  errorRate: number;
  /** Share of calls handled, committed, and then left unanswered: the caller must find out. */
  lostRate: number;
  /** Each answer is delayed by a random time up to this. */
  maxLatencyMs: number;
  /** The `Retry-After` of the 429s, short so that a run is not mostly waiting. */
  retryAfterSeconds: number;
  /** A seeded generator makes a run repeatable; Math.random by default. */
  random?: () => number;
}

export type ChaosFault = 'refused-503' | 'rate-limited-429' | 'lost-after-commit';

export class Chaos {
  private settings: ChaosSettings | undefined;
  readonly injected: Record<ChaosFault, number> = {
    'refused-503': 0,
    'rate-limited-429': 0,
    'lost-after-commit': 0,
  };

  /** Turns random faults on with `settings`, or off with undefined. */
  set(settings: ChaosSettings | undefined): void {
    this.settings = settings;
  }

  get retryAfterSeconds(): number {
    return this.settings?.retryAfterSeconds ?? 1;
  }

  /** Waits the call's latency, then says whether to refuse it (and how) before it is handled. */
  async beforeHandling(): Promise<'refused-503' | 'rate-limited-429' | undefined> {
    const settings = this.settings;
    if (settings === undefined) return undefined;
    const random = settings.random ?? Math.random;
    const latency = random() * settings.maxLatencyMs;
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    const roll = random();
    if (roll >= settings.errorRate) return undefined;
    const fault = roll < settings.errorRate / 2 ? 'refused-503' : 'rate-limited-429';
    this.injected[fault] += 1;
    return fault;
  }

  /** Whether to drop the answer of a call that was handled. */
  losesAnswer(): boolean {
    const settings = this.settings;
    if (settings === undefined || (settings.random ?? Math.random)() >= settings.lostRate) return false;
    this.injected['lost-after-commit'] += 1;
    return true;
  }
}

/** A small seeded generator (mulberry32), so that a chaos run with the same seed injects the same faults. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
