import { percentiles, type Usage } from './measure';
import { busiest, f, markdownTable, ms } from './report';

type Percentiles = ReturnType<typeof percentiles>;
/** Median, p95 and the largest of some values. */
export type Spread = Percentiles & { max: number };

/** The sizes `npm run bench -- --break-glass N` passes (bench/run.mjs holds the defaults). */
export interface BreakGlassOptions {
  /** Leaks reported under load, `concurrency` at a time. */
  breakGlass: number;
  concurrency: number;
  /** Leaks reported one at a time, before the load. */
  latencySamples: number;
  /** Inventory sizes at which an unknown token's matching is timed. */
  inventories: number[];
  out: string;
}

/** What one leak measured, in seconds, from its workflow's incident timeline (and the bench's clock). */
export interface LeakFigures {
  /** From the alert received by intake to the leaked token revoked: the workflow's `secondsToRevocation`. */
  toRevocation: number;
  /** From the alert received to the new token live in every target and current in the store. */
  toNewTokenLive: number;
  /** From the alert received to the break-glass rotation started: the fingerprint matched across the stores. */
  toMatched: number;
  /** From the bench's POST sent to the alert received: HTTP, signature, delivery log. */
  postToReceived: number;
}

export type LeakSpreads = Record<keyof LeakFigures, Spread>;

/** Everything a break-glass run measured; written as JSON, and rendered by `renderBreakGlassTable`. */
export interface BreakGlassResults {
  options: BreakGlassOptions;
  machine: { cpus: number; node: string };
  /** Activities one break-glass rotation scheduled: the floor runs as many. */
  activities: number;
  /** Credentials in the inventory the alerts server matches against. */
  inventory: number;
  oneAtATime: { leaks: LeakSpreads; wallMs: Percentiles; floorMs: Percentiles };
  underLoad: {
    leaks: LeakSpreads;
    leaksPerSecond: number;
    floorPerSecond: number;
    floorRuns: number[];
    ratio: number;
    wallMs: Percentiles;
    floorMs: Percentiles;
    usage: Usage;
    floorUsage: Usage;
  };
  /** An unknown token's alert ("not managed here": every credential read), per inventory size. */
  matching: { credentials: number; answerMs: Percentiles }[];
}

/** Median, p95 and max of `values`. */
export function spread(values: number[]): Spread {
  const { median, p95, n } = percentiles(values);
  return { median, p95, n, max: values.length === 0 ? NaN : Math.max(...values) };
}

/** Each figure of `leaks` as its spread. */
export function spreads(leaks: LeakFigures[]): LeakSpreads {
  const of = (key: keyof LeakFigures) => spread(leaks.map((leak) => leak[key]));
  return {
    toRevocation: of('toRevocation'),
    toNewTokenLive: of('toNewTokenLive'),
    toMatched: of('toMatched'),
    postToReceived: of('postToReceived'),
  };
}

const s = (p: Spread) => `${f(p.median)} / ${f(p.p95)} / ${f(p.max)} s`;

/** One row per figure, one at a time and under load, each beside the floor of the same run. */
export function renderBreakGlassTable(r: BreakGlassResults): string {
  const { oneAtATime: one, underLoad: load } = r;
  const c = r.options.concurrency;
  const leakRows = (label: string, leaks: LeakSpreads) => [
    [`${label}: alert received → leaked token revoked`, s(leaks.toRevocation)],
    [`${label}: alert received → new token live`, s(leaks.toNewTokenLive)],
    [`${label}: alert received → matched, break-glass started`, s(leaks.toMatched)],
    [`${label}: POST sent → alert received`, s(leaks.postToReceived)],
  ];
  const rows: string[][] = [
    [
      `one at a time: POST sent → result, and the floor (${r.activities} no-op activities), median / p95`,
      `${ms(one.wallMs)}; floor ${ms(one.floorMs)}; floor ÷ this ${f(one.floorMs.median / one.wallMs.median)}`,
    ],
    ...leakRows(`one at a time (n=${one.leaks.toRevocation.n}, median / p95 / max)`, one.leaks),
    [
      `${c} at a time: break-glass rotations/s ÷ floor/s`,
      `${f(load.leaksPerSecond)}/s ÷ ${f(load.floorPerSecond)}/s = ${f(load.ratio)}`,
    ],
    [
      `${c} at a time: POST sent → result, and the floor, median / p95`,
      `${ms(load.wallMs)}; floor ${ms(load.floorMs)}`,
    ],
    ...leakRows(`${c} at a time (n=${load.leaks.toRevocation.n}, median / p95 / max)`, load.leaks),
    [`${c} at a time: CPU (100% = 1 core)`, busiest(load.usage)],
    [`${c} at a time: CPU while the floor runs`, busiest(load.floorUsage)],
    ...r.matching.map((m, i) => {
      const before = r.matching[i - 1];
      // The growth since the size before: the fixed cost (HTTP, signature, delivery log) drops out.
      const perCredential =
        before === undefined
          ? ''
          : `; +${f((m.answerMs.median - before.answerMs.median) / (m.credentials - before.credentials), 1)} ms per credential added`;
      return [
        `unknown token, inventory of ${m.credentials}: alert answered "not managed here" (median / p95)`,
        `${ms(m.answerMs)}${perCredential}`,
      ];
    }),
  ];
  return markdownTable([`break-glass, inventory of ${r.inventory}`, 'measured'], rows);
}
