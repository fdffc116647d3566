import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { auditEventSchema, type AuditSink } from '../src/audit';
import type { InventoryResult } from '../src/inventory/load';
import { PlanError, rotationPlan, type RotationPlan } from '../src/inventory/plan';
import type { KindRegistry } from '../src/kinds/define';
import { storedSecretProblems } from '../src/stored-secret';
import { versionLabel } from '../src/stores/labels';
import { ValidationError, parseOrThrow } from '../src/validation';
import { isStoreFailure, type CredentialStore, type StageMark } from '../src/stores/store';
import {
  describeStore,
  storeRefSchema,
  storeVersionSchema,
  type StoreRef,
  type StoreVersion,
  type Stores,
} from '../src/stores';
import { auditContextSchema, auditRecorder } from './audit';
import { adapterRefSchema, tokenIdSchema } from './provider-calls';
import type { createCredentialActivities } from './credentials';
import { asActivity, checkedActivity } from './failures';
import { FAILURE_TYPES } from '../src/failure-types';
import type { TokenId } from '../src/providers/types';
import type { AdminSecrets } from '../src/providers/admin-secrets';

export type { RotationPlan };

export const ROTATION_REASONS = ['scheduled', 'manual', 'expiring', 'compromised'] as const;

/** What starts a rotation: which credential, why, who asked. */
export const rotationRequestSchema = z
  .object({
    credentialId: z.string().min(1),
    reason: z.enum(ROTATION_REASONS),
    requestedBy: z.string().min(1),
    /** Rotate even when the credential is not due. */
    force: z.boolean().optional(),
    /** Stop after detect and report what would happen. */
    dryRun: z.boolean().optional(),
    /** Promote without running the credential's canary: for emergencies, and recorded in the audit log. */
    skipCanary: z
      .object({ reason: z.string().min(1) })
      .strict()
      .optional(),
    /** How often each rollback step is tried before an operator is called (10 unless a test shortens it). */
    rollbackAttempts: z.number().int().min(1).max(10).optional(),
    /** How long a step waits for an unavailable Vault before the rotation rolls back (300 unless a test shortens it). */
    vaultWaitSeconds: z.number().int().min(1).max(3600).optional(),
  })
  .strict();
export type RotationRequest = z.infer<typeof rotationRequestSchema>;

/** What detect found: whether to rotate and why, and the references the later steps check against. */
export interface Detection {
  due: boolean;
  why: string;
  /** The current version: what promote checks is still current, and the value rollback restores targets to. */
  current: StoreVersion;
  currentTokenId: TokenId;
  /** What is staged now (0 or "": nothing), so that issue stages only over it. */
  stagedVersion: StageMark;
}

const DAY_MS = 86_400_000;
/** A token is due this share of `policy.every` early, at most an hour. */
const DUE_MARGIN = 0.1;
const MAX_DUE_MARGIN_MS = 3_600_000;

/** Rotate when compromised, forced, dead, expiring within `rotateBefore` or older than `every`; else skip. */
export function decideRotation(
  request: Pick<RotationRequest, 'reason' | 'requestedBy' | 'force'>,
  policy: Pick<RotationPlan['policy'], 'every' | 'rotateBefore'>,
  token: { active: boolean; revoked: boolean; createdAt: string; expiresAt: string | null },
  now: Date,
): { due: boolean; why: string } {
  if (request.reason === 'compromised')
    return { due: true, why: `reported compromised by ${request.requestedBy}` };
  if (request.force === true) return { due: true, why: `forced by ${request.requestedBy}` };
  if (token.revoked || !token.active) return { due: true, why: 'the current token is no longer active' };
  if (
    token.expiresAt !== null &&
    policy.rotateBefore !== undefined &&
    Date.parse(token.expiresAt) - now.getTime() <= policy.rotateBefore
  ) {
    return { due: true, why: `the current token expires ${token.expiresAt}, within policy.rotateBefore` };
  }
  // A schedule fires every `every`, and its detect runs a little earlier in its rotation than the last
  // rotation's issue did: without this margin each second run would find the token seconds short of due.
  const margin = Math.min(policy.every * DUE_MARGIN, MAX_DUE_MARGIN_MS);
  const dueAt = new Date(Date.parse(token.createdAt) + policy.every - margin);
  if (dueAt <= now)
    return { due: true, why: `the current token is older than policy.every (due ${dueAt.toISOString()})` };
  const days = Math.ceil((dueAt.getTime() - now.getTime()) / DAY_MS);
  return { due: false, why: `not due until ${dueAt.toISOString()} (in ${days} days)` };
}

const detectInputSchema = z
  .object({
    source: adapterRefSchema,
    store: storeRefSchema,
    policy: z
      .object({ every: z.number().positive(), rotateBefore: z.number().positive().optional() })
      .loose(),
    request: rotationRequestSchema,
  })
  .strict();
export type DetectInput = z.input<typeof detectInputSchema>;

const promoteInputSchema = z
  .object({
    store: storeRefSchema,
    staged: storeVersionSchema,
    /** The version detect read: promote refuses if it is no longer current. */
    replacing: storeVersionSchema,
    /** The new token, as issue named it: what the audit entry records. */
    tokenId: tokenIdSchema,
    audit: auditContextSchema.optional(),
  })
  .strict();

/** The version promote made current, and what is wrong with the secret's replicas, if anything. */
export type Promoted = StoreVersion & { replicaProblems?: string[] };

/** How long promote waits for replicas still catching up before it reports them. */
const REPLICA_PATIENCE_MS = 10_000;
const REPLICA_POLL_MS = 2_000;

/**
 * The replicas' problems after a write: one still in progress is given a few seconds; one that cannot be
 * asked about is a problem too, since the promote it follows has happened and stands.
 */
async function replicasOf(store: CredentialStore<StoreRef, StoreVersion>, at: StoreRef): Promise<string[]> {
  const deadline = Date.now() + REPLICA_PATIENCE_MS;
  for (;;) {
    const problems = await store
      .replicationProblems?.(at)
      .catch((error: unknown) => [
        `replicas not checked: ${error instanceof Error ? error.message : String(error)}`,
      ]);
    if (problems === undefined || problems.length === 0) return [];
    if (!problems.some((problem) => problem.endsWith(' is InProgress')) || Date.now() >= deadline)
      return problems;
    await new Promise((wake) => setTimeout(wake, REPLICA_POLL_MS));
  }
}

const rePromoteInputSchema = z
  .object({
    store: storeRefSchema,
    previous: storeVersionSchema,
    promotedTokenId: tokenIdSchema,
  })
  .strict();

/** How a rotation ended when the workflow, not a step, decided it: rolled back, failed, or never approved. */
const outcomeInputSchema = z
  .object({
    audit: auditContextSchema,
    event: z.enum(['rolled back', 'failed', 'skipped', 'reviewed']),
    outcome: auditEventSchema.shape.outcome,
    detail: z.string(),
  })
  .strict();
export type RotationOutcomeInput = z.infer<typeof outcomeInputSchema>;

const awaitStoreInputSchema = z
  .object({ at: storeRefSchema, withinSeconds: z.number().int().positive() })
  .strict();
/** How often an unavailable store is asked again. */
const STORE_POLL_MS = 2_000;

/** The rotation's own activities; provider calls go through the generic credential activities. */
export function createRotationActivities({
  stores,
  providers,
  inventoryPath,
  readInventory,
  credentials,
  audit,
  adminSecrets,
}: {
  stores: Stores;
  providers: KindRegistry;
  inventoryPath: string;
  readInventory: () => Promise<InventoryResult>;
  credentials: ReturnType<typeof createCredentialActivities>;
  audit: AuditSink;
  /** The admin tokens this process holds: promote may have replaced one (the rotator's own admin token). */
  adminSecrets: Pick<AdminSecrets, 'forget'>;
}) {
  const record = auditRecorder(audit);
  const activity = checkedActivity(asActivity);
  /** The bounded wait for the store: reads the credential's secret until the store answers. */
  const awaitStore = activity('awaitStore', awaitStoreInputSchema, async ({ at, withinSeconds }) => {
    const store = stores.of(at);
    const deadline = Date.now() + withinSeconds * 1000;
    for (;;) {
      try {
        await store.readCurrent(at);
        return;
      } catch (error) {
        if (!isStoreFailure(error, 'unavailable')) throw error;
        if (Date.now() >= deadline) {
          throw ApplicationFailure.nonRetryable(
            `${describeStore(at)} did not come back within ${withinSeconds}s: ${error.message}`,
            FAILURE_TYPES.storeUnavailable,
          );
        }
      }
      await new Promise((wake) => setTimeout(wake, STORE_POLL_MS));
    }
  });

  return {
    /** Reads the inventory anew for each rotation, so an edited inventory applies to the next one. */
    async loadCredential(input: RotationRequest): Promise<RotationPlan> {
      return asActivity(async () => {
        const request = parseOrThrow(rotationRequestSchema, input, 'rotateCredential input');
        const loaded = await readInventory();
        if (!loaded.ok) {
          throw ApplicationFailure.nonRetryable(
            `load ${request.credentialId}: the inventory ${inventoryPath} is invalid: ${loaded.errors.join('; ')}`,
            FAILURE_TYPES.inventory,
          );
        }
        try {
          return rotationPlan(loaded.inventory, request.credentialId, providers);
        } catch (error) {
          if (!(error instanceof PlanError)) throw error;
          throw ApplicationFailure.nonRetryable(
            `load: ${error.message} (${inventoryPath})`,
            FAILURE_TYPES.inventory,
          );
        }
      });
    },

    /** Reads which token the store holds now, asks the provider about it, and decides whether to rotate. */
    detectRotation: activity(
      'detectRotation',
      detectInputSchema,
      async ({ source, store: at, policy, request }): Promise<Detection> => {
        const store = stores.of(at);
        // A store that cannot keep versions (a KV v1 mount) would take the staged write and fail only after the mint.
        await store.assertUsable(at);
        const { data, version: current } = await store.readCurrent(at);
        const where = `${describeStore(at)} ${versionLabel(current)}`;
        // Before any provider call: a stray newline in a refresh token would spend a grant and read as theft.
        const problems = storedSecretProblems(data);
        if (problems.length > 0) throw new ValidationError(`detect: ${where}`, problems);
        const currentTokenId = data.tokenId ?? '';
        if (currentTokenId === '') {
          throw ApplicationFailure.nonRetryable(
            `detect: ${where} has no tokenId field naming the current token`,
            FAILURE_TYPES.store,
          );
        }
        const token = await credentials.inspectCredential({
          source,
          tokenId: currentTokenId,
          held: current,
        });
        const decision = decideRotation(request, policy, token, new Date());
        const { mark } = await store.readStaged(at);
        const detection = { ...decision, current, currentTokenId, stagedVersion: mark };
        const found = { tokenId: currentTokenId, vault: { current: current.version }, detail: decision.why };
        const skipped = !decision.due
          ? ('not-due' as const)
          : request.dryRun === true
            ? ('dry-run' as const)
            : undefined;
        await record(
          {
            credentialId: request.credentialId,
            step: 'detect',
            actor: request.requestedBy,
            reason: request.reason,
          },
          { event: 'started', ...found },
          ...(skipped === undefined ? [] : [{ event: 'skipped' as const, outcome: skipped, ...found }]),
        );
        return detection;
      },
    ),

    /**
     * Makes the staged value the current version, only while the version detect read is current: a conflict
     * means someone else changed the secret, which is never overwritten.
     */
    promoteStaged: activity(
      'promoteStaged',
      promoteInputSchema,
      async ({ store: at, staged, replacing, tokenId, audit: context }): Promise<Promoted> => {
        const store = stores.of(at);
        const promoted = await store.promote(at, staged, replacing).catch((error: unknown) => {
          if (!isStoreFailure(error, 'conflict')) throw error;
          throw ApplicationFailure.nonRetryable(`promote: ${error.message}`, FAILURE_TYPES.promoteConflict);
        });
        // The promoted secret may hold a provider's admin token: the next provider call reads it anew.
        adminSecrets.forget();
        await record(context, {
          event: 'promoted',
          tokenId,
          vault: { current: promoted.version, previous: replacing.version, staged: staged.version },
        });
        const replicaProblems = await replicasOf(store, at);
        return replicaProblems.length === 0 ? promoted : { ...promoted, replicaProblems };
      },
    ),

    /** Rollback of promote: puts the previous version back only when the current one is ours. */
    rePromotePrevious: activity(
      'rePromotePrevious',
      rePromoteInputSchema,
      ({ store: at, previous, promotedTokenId }): Promise<StoreVersion> =>
        stores.of(at).rePromote(at, previous, promotedTokenId),
    ),

    awaitStore,
    /** The name 0.2.0 histories schedule the same wait by (workflows/steps/load.ts). */
    awaitVault: awaitStore,

    /** The one entry a rotation the workflow ended itself gets: no step activity runs at that point. */
    recordRotationOutcome: activity(
      'recordRotationOutcome',
      outcomeInputSchema,
      async ({ audit: context, ...event }): Promise<void> => {
        await record(context, event);
      },
    ),
  };
}
