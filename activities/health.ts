import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import type { InventoryResult } from '../src/inventory/load';
import { PlanError, rotationPlan, type RotationPlan } from '../src/inventory/plan';
import { unrotatableAdminTokenNotes } from '../src/inventory/providers';
import type { KindRegistry } from '../src/kinds/define';
import { describeStore, storeRefSchema, type StoreVersion, type Stores } from '../src/stores';
import { versionLabel } from '../src/stores/labels';
import { asActivity, checkedActivity } from './failures';
import { FAILURE_TYPES } from '../src/failure-types';
import type { TokenId } from '../src/providers/types';

/** A credential as the health check sees it: its rotation plan, and its schedule's jitter. */
export interface HealthPlan {
  plan: RotationPlan;
  /** The most the scheduled rotation may start after `policy.every`. */
  jitter: number;
}

export interface HealthPlans {
  plans: HealthPlan[];
  /** Credentials that cannot be checked (a kind with no adapter), and why. */
  unplanned: { credentialId: string; reason: string }[];
  /** What the health check cannot look after, such as admin tokens the rotator cannot rotate; absent when nothing. */
  notes?: string[];
}

/** The current version: which token it holds and when it was written (by the last promote). */
export interface CurrentVersion {
  ref: StoreVersion;
  tokenId: TokenId;
  writtenAt: string;
  /** What is wrong with the secret's replicas, for a store that replicates it; absent when nothing is. */
  replicaProblems?: string[];
}

const currentInputSchema = z.object({ store: storeRefSchema }).strict();

/** The health check's own activities; provider calls go through the generic credential activities. */
export function createHealthActivities({
  stores,
  providers,
  inventoryPath,
  readInventory,
}: {
  stores: Stores;
  providers: KindRegistry;
  inventoryPath: string;
  readInventory: () => Promise<InventoryResult>;
}) {
  return {
    /** Every credential of the inventory, read anew for each health check. */
    async healthCheckPlans(): Promise<HealthPlans> {
      return asActivity(async () => {
        const loaded = await readInventory();
        if (!loaded.ok) {
          throw ApplicationFailure.nonRetryable(
            `health check: the inventory ${inventoryPath} is invalid: ${loaded.errors.join('; ')}`,
            FAILURE_TYPES.inventory,
          );
        }
        const result: HealthPlans = { plans: [], unplanned: [] };
        for (const credential of loaded.inventory.credentials) {
          try {
            const plan = rotationPlan(loaded.inventory, credential.id, providers);
            result.plans.push({ plan, jitter: credential.policy.jitter });
          } catch (error) {
            if (!(error instanceof PlanError)) throw error;
            result.unplanned.push({ credentialId: credential.id, reason: error.message });
          }
        }
        const notes = unrotatableAdminTokenNotes(loaded.inventory);
        return notes.length === 0 ? result : { ...result, notes };
      });
    },

    readCurrentVersion: checkedActivity(asActivity)(
      'readCurrentVersion',
      currentInputSchema,
      async ({ store: at }): Promise<CurrentVersion> => {
        const store = stores.of(at);
        const { data, version: ref } = await store.readCurrent(at);
        const tokenId = data.tokenId ?? '';
        if (tokenId === '') {
          throw ApplicationFailure.nonRetryable(
            `health check: ${describeStore(at)} ${versionLabel(ref)} has no tokenId field naming the current token`,
            FAILURE_TYPES.store,
          );
        }
        const replicaProblems = (await store.replicationProblems?.(at)) ?? [];
        return {
          ref,
          tokenId,
          writtenAt: await store.writtenAt(ref),
          ...(replicaProblems.length === 0 ? {} : { replicaProblems }),
        };
      },
    ),
  };
}
