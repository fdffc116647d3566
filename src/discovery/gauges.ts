import type { MetricMeter } from '@temporalio/common';
import type { HorizonWeek } from './horizon';

export const EXPIRY_METRICS = {
  expiring: 'rotator_tokens_expiring',
  cliff: 'rotator_tokens_expiry_cliff',
} as const;

/**
 * The expiry horizon as Prometheus gauges: per ISO week, the managed tokens (every credential's, watched or
 * not) and the unmanaged ones (of discovery.watch) that expire in it (`rotator_tokens_expiring{week="2026-W51",managed="true"}`), and 1 for a week over
 * `discovery.horizonCliff` (`rotator_tokens_expiry_cliff{week}`). A week that has left the horizon is set to
 * 0, since a gauge keeps its last value.
 */
export class ExpiryGauges {
  private shown = new Set<string>();

  set(meter: MetricMeter, weeks: HorizonWeek[]): void {
    const expiring = meter.createGauge(
      EXPIRY_METRICS.expiring,
      'int',
      undefined,
      "Tokens that expire in each ISO week: every managed credential's, and the unmanaged ones of discovery.watch",
    );
    const cliff = meter.createGauge(
      EXPIRY_METRICS.cliff,
      'int',
      undefined,
      '1 when more tokens expire in the ISO week than discovery.horizonCliff, else 0',
    );
    const now = new Set(weeks.map(({ week }) => week));
    for (const week of this.shown) {
      if (now.has(week)) continue;
      for (const managed of ['true', 'false']) expiring.set(0, { week, managed });
      cliff.set(0, { week });
    }
    for (const week of weeks) {
      expiring.set(week.managed, { week: week.week, managed: 'true' });
      expiring.set(week.unmanaged, { week: week.week, managed: 'false' });
      cliff.set(week.cliff ? 1 : 0, { week: week.week });
    }
    this.shown = now;
  }
}
