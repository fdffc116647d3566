import { readdirSync, readFileSync } from 'node:fs';
import type { temporal } from '@temporalio/proto';

/** Median and 95th percentile (nearest rank) of some durations, in ms. */
export function percentiles(values: number[]): { median: number; p95: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN;
  return { median: rank(0.5), p95: rank(0.95), n: sorted.length };
}

/** Runs `count` tasks with at most `concurrency` at once; answers each task's duration and the wall time. */
export async function pool(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<{ durations: number[]; seconds: number; perSecond: number }> {
  const durations: number[] = [];
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    for (let index = next++; index < count; index = next++) {
      const at = performance.now();
      await task(index);
      durations.push(performance.now() - at);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  const seconds = (performance.now() - started) / 1000;
  return { durations, seconds, perSecond: count / seconds };
}

/**
 * Rotation throughput against Temporal's floor: `count` floors, `count` rotations, then `count` floors again,
 * each `concurrency` at a time. The floor's rate is the mean of its two runs, so that a change in the
 * machine's load during the run weighs on both sides. `watch` starts sampling the processes of interest.
 */
export async function throughputAgainstFloor(phase: {
  count: number;
  concurrency: number;
  rotate: (index: number) => Promise<void>;
  floor: () => Promise<void>;
  watch: () => { stop(): Usage };
}) {
  const { count, concurrency } = phase;
  const watchingFloor = phase.watch();
  const floorBefore = await pool(count, concurrency, phase.floor);
  const floorUsage = watchingFloor.stop();
  const watching = phase.watch();
  const rotations = await pool(count, concurrency, phase.rotate);
  const usage = watching.stop();
  const floorAfter = await pool(count, concurrency, phase.floor);
  const floorPerSecond = (floorBefore.perSecond + floorAfter.perSecond) / 2;
  return {
    rotationsPerSecond: rotations.perSecond,
    floorPerSecond,
    floorRuns: [floorBefore.perSecond, floorAfter.perSecond],
    ratio: rotations.perSecond / floorPerSecond,
    latencyUnderLoad: percentiles(rotations.durations),
    floorLatencyUnderLoad: percentiles([...floorBefore.durations, ...floorAfter.durations]),
    usage,
    floorUsage,
  };
}

/** A process's resident memory (VmRSS), in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** CPU time (user + system) a process has used so far, in seconds (clock ticks of 1/100 s on Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Every process for which `matches` holds, given its id; one that ends while we look is left out. */
function processesWhere(matches: (pid: string) => boolean): number[] {
  return readdirSync('/proc').flatMap((name) => {
    if (!/^\d+$/.test(name)) return [];
    try {
      return matches(name) ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

/** The first process whose command line contains every one of `parts`. */
export function findProcess(...parts: string[]): number | undefined {
  return processesWhere((pid) => {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return parts.every((part) => cmdline.includes(part));
  })[0];
}

/** The processes whose parent is `parent`: a PostgreSQL server's backends and helpers, for example. */
export function childrenOf(parent: number): number[] {
  return processesWhere((pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
  });
}

/** What each process, or group of processes summed, used while a phase ran: CPU (100% is one core) and peak RSS. */
export type Usage = Record<string, { cpuPercent: number; peakRssMb: number }>;

/**
 * Samples the processes every 250 ms from now until `stop`. A process that ends meanwhile counts with what
 * its last sample saw.
 */
export function watch(processes: Record<string, number | number[] | undefined>): { stop(): Usage } {
  const groups = Object.entries(processes).flatMap(([name, pids]): [string, number[]][] =>
    pids === undefined ? [] : [[name, [pids].flat()]],
  );
  const startedAt = performance.now();
  const cpuAtStart = new Map<number, number>();
  const cpuLast = new Map<number, number>();
  const peak = new Map<string, number>();
  const sample = () => {
    for (const [name, pids] of groups) {
      let rss = 0;
      for (const pid of pids) {
        try {
          const cpu = cpuSeconds(pid);
          const mb = rssMb(pid);
          // A zombie has no VmRSS left.
          if (Number.isFinite(mb)) rss += mb;
          if (!cpuAtStart.has(pid)) cpuAtStart.set(pid, cpu);
          cpuLast.set(pid, cpu);
        } catch {
          // It has ended.
        }
      }
      peak.set(name, Math.max(peak.get(name) ?? 0, rss));
    }
  };
  sample();
  const timer = setInterval(sample, 250);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const seconds = (performance.now() - startedAt) / 1000;
      const used = (pid: number) => (cpuLast.get(pid) ?? 0) - (cpuAtStart.get(pid) ?? 0);
      return Object.fromEntries(
        groups.map(([name, pids]) => [
          name,
          {
            cpuPercent: (100 * pids.reduce((sum, pid) => sum + used(pid), 0)) / seconds,
            peakRssMb: peak.get(name) ?? NaN,
          },
        ]),
      );
    },
  };
}

/**
 * What a history costs: its events, and the actions Temporal Cloud bills for it (workflow start, activity
 * schedules and retries, timers, signals, accepted updates, search-attribute upserts, child workflows, and
 * one per workflow task that recorded local-activity markers). Heartbeats and queries are not in a history.
 */
export function historyCost(history: temporal.api.history.v1.IHistory) {
  const events = history.events ?? [];
  const actions: Record<string, number> = {};
  const add = (kind: string, n = 1) => {
    if (n > 0) actions[kind] = (actions[kind] ?? 0) + n;
  };
  /** Local activities are billed once per workflow task that recorded their markers. */
  const markerTasks = new Set<string>();
  for (const event of events) {
    if (event.workflowExecutionStartedEventAttributes) add('workflow start');
    if (event.activityTaskScheduledEventAttributes) add('activity schedule');
    const started = event.activityTaskStartedEventAttributes;
    if (started) add('activity retry', (started.attempt ?? 1) - 1);
    if (event.timerStartedEventAttributes) add('timer');
    if (event.workflowExecutionSignaledEventAttributes) add('signal');
    if (event.workflowExecutionUpdateAcceptedEventAttributes) add('update');
    if (event.upsertWorkflowSearchAttributesEventAttributes) add('search-attribute upsert');
    if (event.startChildWorkflowExecutionInitiatedEventAttributes) add('child workflow');
    const marker = event.markerRecordedEventAttributes;
    if (marker) markerTasks.add(String(marker.workflowTaskCompletedEventId));
  }
  add('local-activity batch', markerTasks.size);
  const total = Object.values(actions).reduce((sum, n) => sum + n, 0);
  return { events: events.length, actions: total, byKind: actions };
}

/** Counts calls per key. */
export function tally<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}
