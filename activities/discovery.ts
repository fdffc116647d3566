import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { discoverWatched } from '../src/discovery';
import { ExpiryGauges } from '../src/discovery/gauges';
import { expiryHorizon, unmanagedExpiring, withManaged, type ManagedExpiry } from '../src/discovery/horizon';
import { ownerLabel } from '../src/discovery/types';
import { FAILURE_TYPES } from '../src/failure-types';
import type { InventoryResult } from '../src/inventory/load';
import type { Stores } from '../src/stores';
import { storedFieldReader } from '../src/stores/read-field';
import type { Listing } from '../src/discovery';
import { asActivity, checkedActivity } from './failures';

/** An unmanaged token the health check reports: names and dates only. */
export interface UnmanagedToken {
  kind: string;
  resource: string;
  name: string;
  tokenId?: string;
  expiresAt: string;
}

/** What the health check learns of the tokens no credential owns, in the watched groups and organizations. */
export interface UnmanagedReport {
  /** How many groups, organizations and repositories `discovery.watch` names; 0 means none is looked at. */
  watched: number;
  /** `discovery.expiryWarning` in whole days. */
  warningDays: number;
  /** Unmanaged tokens that expire within it, soonest first. */
  expiring: UnmanagedToken[];
  /** What could not be listed, and why. */
  notListed: string[];
}

const DAY_MS = 86_400_000;

/**
 * What the health check knows of each managed credential's current token (it has just inspected each), for
 * the gauges to count every managed credential, not only those inside the watched places. A health check
 * started before this was added passes nothing.
 */
const inputSchema = z
  .object({
    managed: z.array(
      z
        .object({
          credentialId: z.string().min(1),
          tokenId: z.string().min(1),
          expiresAt: z.union([z.iso.date(), z.iso.datetime({ offset: true })]).nullable(),
        })
        .strict() satisfies z.ZodType<ManagedExpiry>,
    ),
  })
  .strict()
  .default({ managed: [] });
export type DiscoverUnmanagedInput = z.input<typeof inputSchema>;

/** Discovery for the health check; each run also sets the expiry gauges of the worker's /metrics. */
export function createDiscoveryActivities({
  stores,
  inventoryPath,
  readInventory,
}: {
  stores: Stores;
  inventoryPath: string;
  readInventory: () => Promise<InventoryResult>;
}) {
  const gauges = new ExpiryGauges();
  return {
    discoverUnmanaged: checkedActivity(asActivity)(
      'discoverUnmanaged',
      inputSchema,
      async ({ managed }): Promise<UnmanagedReport> => {
        const loaded = await readInventory();
        if (!loaded.ok)
          throw ApplicationFailure.nonRetryable(
            `health check: the inventory ${inventoryPath} is invalid: ${loaded.errors.join('; ')}`,
            FAILURE_TYPES.inventory,
          );
        const { discovery } = loaded.inventory;
        const report = {
          watched: discovery.watch.length,
          warningDays: Math.floor(discovery.expiryWarning / DAY_MS),
        };
        const now = new Date();
        // Nothing watched: the managed credentials alone make the gauges.
        const listing: Listing =
          discovery.watch.length === 0
            ? { found: [], notListed: [] }
            : await discoverWatched(loaded.inventory, storedFieldReader(stores));
        gauges.set(
          Context.current().metricMeter,
          expiryHorizon(listing.found, now, discovery.horizon, discovery.horizonCliff, managed),
        );
        const marked = withManaged(listing.found, managed);
        const expiring = unmanagedExpiring(marked, now, discovery.expiryWarning).map((found) => ({
          kind: found.kind,
          resource: ownerLabel(found.owner),
          name: found.name,
          ...(found.tokenId === undefined ? {} : { tokenId: found.tokenId }),
          expiresAt: String(found.expiresAt),
        }));
        return { ...report, expiring, notListed: listing.notListed };
      },
    ),
  };
}
