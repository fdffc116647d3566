import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { FAILURE_TYPES } from '../failure-types';
import type { Logger } from '../logging';
import {
  InventoryLoader,
  InventoryTooLarge,
  loadInventory,
  readInventoryText,
  type InventoryResult,
} from './load';
import type { Inventory } from './schema';

type Read = { text: string; result: InventoryResult };

/**
 * What identifies one version of the file without reading it: any write changes its ctime, which no tool
 * sets back, and a replaced file (a rename, Kubernetes' symlink swap) has another inode.
 */
async function stampOf(path: string): Promise<string | undefined> {
  try {
    const { ino, size, mtimeNs, ctimeNs } = await stat(path, { bigint: true });
    return `${ino}:${size}:${mtimeNs}:${ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** A file that cannot be read comes back as an error, like bad YAML; the message names the cause, never content. */
async function read(path: string, load: (text: string) => InventoryResult = loadInventory): Promise<Read> {
  try {
    const text = await readInventoryText(path);
    return { text, result: load(text) };
  } catch (error) {
    if (error instanceof InventoryTooLarge)
      return { text: '', result: { ok: false, errors: [error.message] } };
    const cause = (error as NodeJS.ErrnoException).code ?? String(error);
    return { text: '', result: { ok: false, errors: [`cannot read the file: ${cause}`] } };
  }
}

/** Reads and validates an inventory file. */
export async function readInventoryFile(path: string): Promise<InventoryResult> {
  return (await read(path)).result;
}

/** An inventory that failed its first read: the worker cannot start on nothing. */
export class InventoryError extends Error {
  override readonly name = FAILURE_TYPES.inventory;

  constructor(
    readonly path: string,
    readonly errors: string[],
  ) {
    super(`the inventory ${path} is invalid: ${errors.join('; ')}`);
  }
}

/** Editors save with several events in a row; one re-read after they settle is enough. */
const SETTLE_MS = 100;

interface WatcherEvents {
  /** A changed inventory passed validation and now applies to the next rotation. */
  reloaded: [inventory: Inventory];
  /** A changed inventory failed validation: the last good one stays. */
  refused: [errors: string[]];
}

/**
 * Holds the last good inventory and re-reads the file when it changes or when asked (SIGHUP). A new
 * inventory applies to the next rotation; an invalid one is refused, its errors logged, the old one kept.
 */
export class InventoryWatcher extends EventEmitter<WatcherEvents> {
  private watcher: FSWatcher | undefined;
  private settle: NodeJS.Timeout | undefined;
  /** Reloads run one at a time, so that an older read never replaces a newer one. */
  private reloading: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly logger: Logger,
    /** Validates only the credentials a change touched: a fleet's file is 10,000 of them. */
    private readonly loader: InventoryLoader,
    private good: Inventory,
    private goodText: string,
    /** The file's stamp when the good inventory was read: while it is the same, the file is not read again. */
    private goodStamp: string | undefined,
  ) {
    super();
  }

  /** Reads the inventory once; throws InventoryError when it is invalid. */
  static async open(path: string, logger: Logger): Promise<InventoryWatcher> {
    const loader = new InventoryLoader();
    const stamp = await stampOf(path);
    const { text, result } = await read(path, (next) => loader.load(next));
    if (!result.ok) throw new InventoryError(path, result.errors);
    const watcher = new InventoryWatcher(path, logger, loader, result.inventory, text, stamp);
    logger.info({ file: path, credentials: result.inventory.credentials.length }, 'inventory loaded');
    return watcher;
  }

  /** The inventory rotations use now: the last one that passed validation. */
  current(): Inventory {
    return this.good;
  }

  /** Re-reads the file; answers whether a new inventory now applies (false: unchanged or refused). */
  reload(trigger: string): Promise<boolean> {
    const next = this.reloading.then(() => this.readAgain(trigger));
    this.reloading = next.catch(() => undefined);
    return next;
  }

  private async readAgain(trigger: string): Promise<boolean> {
    // Every rotation asks: an unchanged file is neither read nor validated again.
    const stamp = await stampOf(this.path);
    if (stamp !== undefined && stamp === this.goodStamp) return false;
    const { text, result } = await read(this.path, (next) =>
      next === this.goodText ? { ok: true, inventory: this.good } : this.loader.load(next),
    );
    if (result.ok && text === this.goodText) {
      this.goodStamp = stamp;
      return false;
    }
    if (!result.ok) {
      this.logger.error(
        { file: this.path, trigger, errors: result.errors },
        'inventory refused: it is invalid, so the last good one stays in use',
      );
      this.emit('refused', result.errors);
      return false;
    }
    this.good = result.inventory;
    this.goodText = text;
    this.goodStamp = stamp;
    this.logger.info(
      {
        file: this.path,
        trigger,
        credentials: result.inventory.credentials.length,
        revalidated: result.inventory.credentials.length - this.loader.reused,
      },
      'inventory reloaded: it applies from the next rotation',
    );
    this.emit('reloaded', result.inventory);
    return true;
  }

  /**
   * Watches the file's folder rather than the file: editors and `kubectl` replace the file (a rename, or
   * Kubernetes' `..data` symlink swap), and a watch on the old inode would see nothing after that.
   */
  watch(): void {
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(this.settle);
      this.settle = setTimeout(() => void this.reload('file changed'), SETTLE_MS);
    });
    // The folder itself removed or unmounted: SIGHUP still reloads, and the last good inventory stays.
    this.watcher.on('error', (error) =>
      this.logger.warn(
        { file: this.path, reason: error.message },
        'cannot watch the inventory any more: send SIGHUP after changing it',
      ),
    );
  }

  close(): void {
    clearTimeout(this.settle);
    this.watcher?.close();
  }
}

/**
 * What the load step reads: the file anew for each rotation, so that a change applies to the very next one
 * even before the watcher has seen it; in the worker, an invalid file is refused and the watcher's last
 * good inventory used instead.
 */
export function inventoryReader(
  path: string,
  watcher?: Pick<InventoryWatcher, 'current' | 'reload'>,
): () => Promise<InventoryResult> {
  if (watcher === undefined) return () => readInventoryFile(path);
  return async () => {
    await watcher.reload('rotation started');
    return { ok: true, inventory: watcher.current() };
  };
}
