import { vaultSecretOf } from './stores';
import type { MetricMeter } from '@temporalio/common';
import { z } from 'zod';
import { vaultGet } from './health';
import type { Inventory } from './inventory/schema';
import type { Logger } from './logging';
import type { VaultTokenSource } from './vault';

export const FRESHNESS_METRICS = {
  age: 'rotator_credential_age_seconds',
  overdue: 'rotator_credential_overdue',
} as const;

/** How often the per-credential gauges are recomputed: far finer than any rotation policy. */
export const FRESHNESS_INTERVAL_MS = 30_000;

const metadataSchema = z.object({
  data: z.object({
    current_version: z.number().int().positive(),
    versions: z.record(z.string(), z.object({ created_time: z.string() })),
  }),
});

/**
 * Per credential: seconds since its current value was written to Vault (a rotation writes it at promote,
 * so this is the time since the last successful rotation) and whether that exceeds `policy.every` plus
 * `policy.jitter`. Read from Vault's KV metadata, never the value, so it holds across worker restarts.
 */
export class CredentialFreshness {
  private readonly age;
  private readonly overdue;
  private timer: NodeJS.Timeout | undefined;
  /** Credentials whose metadata could not be read last time, so that each problem is logged once. */
  private readonly failing = new Set<string>();

  constructor(
    meter: MetricMeter,
    private readonly inventory: () => Inventory,
    private readonly vault: { address: string; caCert?: string; token: VaultTokenSource },
    private readonly logger: Logger,
  ) {
    this.age = meter.createGauge(
      FRESHNESS_METRICS.age,
      'float',
      undefined,
      'Seconds since the current value of each credential was written to Vault',
    );
    this.overdue = meter.createGauge(
      FRESHNESS_METRICS.overdue,
      'int',
      undefined,
      '1 when a credential is older than policy.every plus policy.jitter, else 0',
    );
  }

  async refresh(now = Date.now()): Promise<void> {
    await Promise.all(
      this.inventory().credentials.map(async ({ id, store, policy }) => {
        // Another store's versions are not Vault metadata: its credentials have no age gauge yet.
        const at = vaultSecretOf(store);
        if (at === undefined) return;
        try {
          const { status, body } = await vaultGet(
            this.vault,
            `${at.mount}/metadata/${at.path}`,
            await this.vault.token.current(),
          );
          if (status !== 200) throw new Error(`Vault answered HTTP ${status}`);
          const { data } = metadataSchema.parse(body);
          const created = data.versions[String(data.current_version)]?.created_time;
          if (created === undefined) throw new Error(`Vault lists no version ${data.current_version}`);
          const ageMs = Math.max(0, now - Date.parse(created));
          this.age.set(ageMs / 1000, { credential_id: id });
          this.overdue.set(ageMs > policy.every + policy.jitter ? 1 : 0, { credential_id: id });
          this.failing.delete(id);
        } catch (error) {
          if (this.failing.has(id)) return;
          this.failing.add(id);
          this.logger.warn(
            {
              credentialId: id,
              vault: `${at.mount}/${at.path}`,
              reason: error instanceof Error ? error.message : String(error),
            },
            'cannot read the credential metadata from Vault: its age and overdue metrics are not updated',
          );
        }
      }),
    );
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), FRESHNESS_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
