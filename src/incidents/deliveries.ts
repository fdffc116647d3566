import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../validation';

/**
 * How long a delivery id is remembered. GitHub redelivers on request only, deliveries of the past 3 days (7 on
 * Enterprise Server; docs.github.com, "Redelivering webhooks"); a generic sender's timestamp is refused after
 * 5 minutes anyway. 30 days covers both with room.
 */
export const DELIVERY_MEMORY_MS = 30 * 24 * 3600 * 1000;
/** At most this many ids are kept (the oldest go first): a flood of signed deliveries cannot grow the file. */
export const MAX_DELIVERIES = 10_000;

const fileSchema = z
  .object({ version: z.literal(1), deliveries: z.record(z.string().min(1), z.number().int().nonnegative()) })
  .strict();

/** What `once` did: ran the handler, or found the delivery already handled (or being handled). */
export type Once<T> = { replayed: false; value: T } | { replayed: true };

/**
 * The delivery ids the alerts server has handled, kept in a small JSON file so that a restart does not
 * forget them (docs/incidents.md, "Replayed deliveries"). An id is recorded once its handler succeeded: a
 * delivery that failed (a store unavailable) may be redelivered and is then taken in.
 */
export class DeliveryLog {
  private readonly inFlight = new Set<string>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly seen: Map<string, number>,
    private readonly now: () => number,
  ) {}

  /** The log kept in `file` (created on first write); a file that is not one refuses to open, naming it. */
  static async open(file: string, now: () => number = Date.now): Promise<DeliveryLog> {
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let parsed: unknown = { version: 1, deliveries: {} };
    if (text !== undefined) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new Error(`the delivery log ${file} is not JSON: move it away to start with an empty one`);
      }
    }
    const { deliveries } = parseOrThrow(fileSchema, parsed, `the delivery log ${file}`);
    return new DeliveryLog(file, new Map(Object.entries(deliveries)), now);
  }

  /** Runs `handle` unless the delivery `id` was handled before or is being handled now. */
  async once<T>(id: string, handle: () => Promise<T>): Promise<Once<T>> {
    this.forgetOld();
    if (this.seen.has(id) || this.inFlight.has(id)) return { replayed: true };
    this.inFlight.add(id);
    try {
      const value = await handle();
      this.seen.set(id, this.now());
      await this.persist();
      return { replayed: false, value };
    } finally {
      this.inFlight.delete(id);
    }
  }

  private forgetOld(): void {
    const oldest = this.now() - DELIVERY_MEMORY_MS;
    for (const [id, at] of this.seen) if (at < oldest) this.seen.delete(id);
    // A Map iterates in insertion order: the first ids are the oldest.
    for (const id of [...this.seen.keys()].slice(0, Math.max(0, this.seen.size - MAX_DELIVERIES)))
      this.seen.delete(id);
  }

  /** Writes the whole log to a file beside it, then renames it over: a crash leaves the old or the new one. */
  private persist(): Promise<void> {
    // A failed write fails its own delivery only; the next one writes the whole log again.
    this.writing = this.writing
      .catch(() => undefined)
      .then(async () => {
        this.forgetOld();
        const text = JSON.stringify({ version: 1, deliveries: Object.fromEntries(this.seen) });
        const next = `${this.file}.next`;
        await mkdir(dirname(this.file), { recursive: true });
        await writeFile(next, text, { mode: 0o600 });
        await rename(next, this.file);
      });
    return this.writing;
  }
}
