import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { rotationFactsSchema, type RotationFacts } from '../src/approval/statement';
import { verifyApproval, type RefusalReason } from '../src/approval/verify';
import { FAILURE_TYPES } from '../src/failure-types';
import type { InventoryResult } from '../src/inventory/load';
import { parseOrThrow } from '../src/validation';
import { asActivity } from './failures';

const verifyApprovalInputSchema = z
  .object({
    /** The `approve` update's payload as it arrived; verifyApproval checks its shape. */
    approval: z.unknown(),
    /** The rotation the update arrived at, from the workflow itself: what the signature must cover. */
    rotation: rotationFactsSchema,
  })
  .strict();
export interface VerifyApprovalInput {
  approval: unknown;
  rotation: RotationFacts;
}

/** Who approved, proven by the key the inventory lists for them. */
export interface VerifiedApproval {
  approver: string;
  /** The SHA256 fingerprint of the key that signed, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/** What the workflow finds in an `ApprovalRefused` failure's details besides its message. */
export interface ApprovalRefusal {
  reason: RefusalReason;
}

export function createApprovalActivities({
  inventoryPath,
  readInventory,
}: {
  inventoryPath: string;
  readInventory: () => Promise<InventoryResult>;
}) {
  return {
    /**
     * Verifies an approval against the inventory as it is now, so that a removed approver or key stops
     * approving at once. A refusal is final (ApprovalRefused, not retried): the same payload would fail again.
     */
    async verifyApproval(input: VerifyApprovalInput): Promise<VerifiedApproval> {
      return asActivity(async () => {
        const { approval, rotation } = parseOrThrow(verifyApprovalInputSchema, input, 'verifyApproval input');
        const loaded = await readInventory();
        if (!loaded.ok) {
          throw ApplicationFailure.nonRetryable(
            `approve: the inventory ${inventoryPath} is invalid: ${loaded.errors.join('; ')}`,
            FAILURE_TYPES.inventory,
          );
        }
        const verdict = verifyApproval(loaded.inventory, rotation, approval, new Date());
        if (!verdict.ok) {
          const details: ApprovalRefusal = { reason: verdict.reason };
          throw ApplicationFailure.create({
            message: verdict.message,
            type: FAILURE_TYPES.approvalRefused,
            nonRetryable: true,
            details: [details],
          });
        }
        return { approver: verdict.approver, fingerprint: verdict.fingerprint };
      });
    },
  };
}
