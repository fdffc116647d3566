import type { historyCost, percentiles, Usage } from './measure';

type Percentiles = ReturnType<typeof percentiles>;
type Calls = Record<'gitlab' | 'github' | 'vault', number>;
type Cost = ReturnType<typeof historyCost> & {
  calls: Calls;
  minimum: Calls;
  detail: Record<keyof Calls, Record<string, number>>;
};

/** The sizes `npm run bench` passes (bench/run.mjs holds the defaults). */
export interface BenchOptions {
  rotations: number;
  concurrency: number;
  latencySamples: number;
  growth: number[];
  /** Worker processes sharing one task queue in the horizontal figure; 1 leaves it out. */
  workers: number;
  /** ROTATOR_WORKFLOW_CACHE of every rotation worker the run starts. */
  workflowCache: number;
  parked: number;
  schedules: number;
  out: string;
}

/** Everything a run measured; written as JSON, and rendered by `renderTable`. */
export interface BenchResults {
  options: BenchOptions;
  machine: { cpus: number; node: string };
  cost: { oneTarget: Cost; fiveTargets: Cost };
  latency: { rotation: Percentiles; floor: Percentiles; steps: Record<string, Percentiles> };
  throughput: {
    /** Credentials in the worker's inventory. */
    inventory: number;
    rotationsPerSecond: number;
    floorPerSecond: number;
    floorRuns: number[];
    ratio: number;
    latencyUnderLoad: Percentiles;
    usage: Usage;
    floorUsage: Usage;
  };
  /** The same rotations on one worker, then on `workers` sharing its task queue (absent with `--workers 1`). */
  horizontal?: {
    workers: number;
    onePerSecond: number;
    manyPerSecond: number;
    ratio: number;
    /** While the workers rotated: the Temporal server's CPU says whether it was the bottleneck. */
    usage: Usage;
  };
  growth: {
    concurrent: number;
    inventory: number;
    rotationsPerSecond: number;
    floorPerSecond: number;
    ratio: number;
    latency: Percentiles;
    workerPeakRssMb: number;
    usage: Usage;
  }[];
  parked: {
    requested: number;
    parked: number;
    secondsToPark: number;
    workerRssMb: number;
    workerPeakRssMb: number;
    latencyBeside: Percentiles;
    latencyRatio: number;
    usage: Usage;
  };
  /** The throughput worker's inventory, and how long parsing and validating it once takes. */
  inventory: { credentials: number; parseMs: number };
  /** The growth worker's audit log at the end, and how long one full verification of it takes. */
  audit: { entries: number; verifySeconds: number };
  schedules: {
    credentials: number;
    first: { seconds: number; writes: number; unchanged: number };
    second: { seconds: number; writes: number; unchanged: number };
  };
}

export const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
export const ms = (p: Percentiles) => `${f(p.median, 0)} / ${f(p.p95, 0)} ms`;
export const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
/** The three processes that used the most CPU. */
export const busiest = (usage: Usage) =>
  Object.entries(usage)
    .sort((a, b) => b[1].cpuPercent - a[1].cpuPercent)
    .slice(0, 3)
    .map(([name, { cpuPercent }]) => `${name} ${f(cpuPercent, 0)}%`)
    .join(', ');

/** One row per figure: what was measured, against what, and the target. */
export function renderTable(r: BenchResults): string {
  const one = r.cost.oneTarget;
  const five = r.cost.fiveTargets;
  const perExtraTarget = (five.events - one.events) / 4;
  const overMinimum = (cost: Cost) =>
    (Object.keys(cost.calls) as (keyof Calls)[])
      .map((p) => `${p} ${cost.calls[p]}/${cost.minimum[p]}`)
      .join(', ');
  const withinOne = (cost: Cost) =>
    (Object.keys(cost.calls) as (keyof Calls)[]).every((p) => cost.calls[p] <= cost.minimum[p] + 1);
  const rows: string[][] = [
    [
      `1 throughput, ${r.options.concurrency} at a time (rotations/s ÷ floor/s)`,
      `${f(r.throughput.rotationsPerSecond)}/s ÷ ${f(r.throughput.floorPerSecond)}/s = ${f(r.throughput.ratio)}`,
      '≥ 0.8',
      verdict(r.throughput.ratio >= 0.8),
    ],
    ['1 CPU while rotating (100% = 1 core)', busiest(r.throughput.usage), '', ''],
    ['1 CPU while the floor runs', busiest(r.throughput.floorUsage), '', ''],
    [
      '2 latency, one at a time (median / p95)',
      `${ms(r.latency.rotation)}; floor ${ms(r.latency.floor)}; ratio ${f(r.latency.floor.median / r.latency.rotation.median)}`,
      '',
      '',
    ],
    ...Object.entries(r.latency.steps).map(([step, p]) => [`2 step ${step}`, ms(p), '', '']),
    [`2 latency at ${r.options.concurrency} at a time`, ms(r.throughput.latencyUnderLoad), '', ''],
    ...(r.horizontal === undefined
      ? []
      : [
          [
            `2 ${r.horizontal.workers} workers on one task queue ÷ 1 worker`,
            `${f(r.horizontal.manyPerSecond)}/s ÷ ${f(r.horizontal.onePerSecond)}/s = ${f(r.horizontal.ratio)}; ` +
              `CPU ${busiest(r.horizontal.usage)}`,
            '≥ 1.7',
            verdict(r.horizontal.ratio >= 1.7),
          ],
        ]),
    [
      '3 cost, 1 target (events, actions)',
      `${one.events} events, ${one.actions} actions (${Object.entries(one.byKind)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')})`,
      '≤ 60, ≤ 16',
      verdict(one.events <= 60 && one.actions <= 16),
    ],
    [
      '3 cost, 5 targets',
      `${five.events} events, ${five.actions} actions; ${f(perExtraTarget, 1)} events per extra target`,
      '≤ 4 per target',
      verdict(perExtraTarget <= 4),
    ],
    ['4 API calls, 1 target (made/minimum)', overMinimum(one), '≤ min + 1', verdict(withinOne(one))],
    ['4 API calls, 5 targets', overMinimum(five), '≤ min + 1', verdict(withinOne(five))],
    [
      `5 ${r.parked.parked}/${r.parked.requested} parked in overlap: worker RSS (cache ${r.options.workflowCache})`,
      `${f(r.parked.workerRssMb, 0)} MB (peak ${f(r.parked.workerPeakRssMb, 0)} MB; idle floor worker ` +
        `${f(r.parked.usage['floor worker']?.peakRssMb ?? NaN, 0)} MB); parked in ${f(r.parked.secondsToPark, 0)} s`,
      '≤ 400 MB',
      verdict(r.parked.workerPeakRssMb <= 400),
    ],
    [
      '5 rotations beside them (median / p95)',
      `${ms(r.parked.latencyBeside)}; unloaded ÷ this = ${f(r.parked.latencyRatio)}`,
      'progress',
      verdict(r.parked.latencyBeside.n === r.options.latencySamples),
    ],
    [
      `5 schedules sync of ${r.schedules.credentials}`,
      `${f(r.schedules.first.seconds, 1)} s (${r.schedules.first.writes} writes); again ${f(r.schedules.second.seconds, 1)} s, ${r.schedules.second.writes} writes`,
      '0 writes again',
      verdict(r.schedules.second.writes === 0),
    ],
    [
      '1 inventory parse, only when its text changed',
      `${r.inventory.credentials} credentials: ${f(r.inventory.parseMs, 0)} ms per parse and validation`,
      '',
      '',
    ],
    [
      '1 audit log verified in full, only when changed under the worker',
      `${r.audit.entries} entries: ${f(r.audit.verifySeconds * 1000, 0)} ms per verification`,
      '',
      '',
    ],
    ...r.growth.map((g) => [
      `6 growth, ${g.concurrent} at once`,
      `${f(g.rotationsPerSecond)}/s ÷ floor ${f(g.floorPerSecond)}/s = ${f(g.ratio)}; median ${f(g.latency.median, 0)} ms; ` +
        `peak RSS worker ` +
        `${f(g.workerPeakRssMb, 0)} MB, Temporal server ${f(g.usage['Temporal server']?.peakRssMb ?? NaN, 0)} MB; ` +
        `CPU ${busiest(g.usage)}`,
      '',
      '',
    ]),
  ];
  return markdownTable(['figure', 'measured', 'target', ''], rows);
}

/** A Markdown table, its columns padded to their widest cell, as docs/performance.md quotes it. */
export function markdownTable(heading: string[], rows: string[][]): string {
  const widths = heading.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(heading), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
