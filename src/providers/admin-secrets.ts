import type { StoredField } from '../stores';

/** How long an admin token read from Vault is reused: one read per provider a minute, not one per step. */
export const ADMIN_SECRET_TTL_MS = 60_000;

/**
 * The provider admin tokens the steps connect with, kept in this process for `ttlMs` after they are read.
 * A provider that refuses one (`forget`) makes the next step read Vault again, so a replaced admin token is
 * picked up at once rather than after the minute.
 */
export class AdminSecrets {
  private readonly held = new Map<string, { value: Promise<string>; until: number }>();

  constructor(
    private readonly read: (at: StoredField) => Promise<string>,
    private readonly ttlMs = ADMIN_SECRET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get(at: StoredField): Promise<string> {
    const key = JSON.stringify(at);
    const entry = this.held.get(key);
    if (entry !== undefined && entry.until > this.now()) return entry.value;
    const value = this.read(at);
    const fresh = { value, until: this.now() + this.ttlMs };
    this.held.set(key, fresh);
    // A failed read is not kept: the next step tries Vault again.
    value.catch(() => {
      if (this.held.get(key) === fresh) this.held.delete(key);
    });
    return value;
  }

  forget(): void {
    this.held.clear();
  }
}
