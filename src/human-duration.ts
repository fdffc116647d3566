/*
 * Durations as operators write them in the inventory. No imports: the workflow sandbox loads this file too.
 */

/**
 * `ms` in the inventory's own syntax, largest units first (`15m`, `1h30m`, `1d1h1m1s`); `units` keeps only
 * that many of the largest, for tables (`6d23h`).
 */
export function humanDuration(ms: number, units = 4): string {
  const seconds = Math.round(Math.abs(ms) / 1000);
  const parts: [number, string][] = [
    [Math.floor(seconds / 86_400), 'd'],
    [Math.floor((seconds % 86_400) / 3_600), 'h'],
    [Math.floor((seconds % 3_600) / 60), 'm'],
    [seconds % 60, 's'],
  ];
  const shown = parts.filter(([amount]) => amount > 0).slice(0, units);
  return shown.length === 0 ? '0s' : shown.map(([amount, unit]) => `${amount}${unit}`).join('');
}
