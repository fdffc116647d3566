import { z } from 'zod';
import type { TargetCheck, TargetSnapshot } from '../src/providers/types';
import { storeVersionSchema } from '../src/stores';
import { adapterRefSchema, audited, type ProviderCalls } from './provider-calls';

const targetInputSchema = z.object({ target: adapterRefSchema }).strict();
const snapshotTargetsInputSchema = z.object({ targets: z.array(adapterRefSchema) }).strict();
const writeInputSchema = targetInputSchema.extend({ value: storeVersionSchema, ...audited }).strict();
/** `since`: when the value came to exist, for targets that cannot return it (see `CredentialTarget.holds`). */
const checkTargetInputSchema = targetInputSchema
  .extend({ value: storeVersionSchema, since: z.string().optional() })
  .strict();
const snapshotSchema = z.union([
  z.object({ exists: z.literal(false) }).strict(),
  z
    .object({
      exists: z.literal(true),
      attributes: z.record(z.string(), z.union([z.string(), z.boolean(), z.null()])),
    })
    .strict(),
]);
const restoreInputSchema = targetInputSchema
  .extend({ snapshot: snapshotSchema, previous: storeVersionSchema.optional() })
  .strict();

export type SnapshotTargetsInput = z.infer<typeof snapshotTargetsInputSchema>;
export type WriteTargetInput = z.infer<typeof writeInputSchema>;
export type CheckTargetInput = z.infer<typeof checkTargetInputSchema>;
export type RestoreTargetInput = z.infer<typeof restoreInputSchema>;
/** When the target acknowledged the new value, by the worker's clock: the switch is the latest of these. */
export interface TargetWritten {
  writtenAt: string;
}

/** Where the new value goes (CI variables, secrets), and how each target is put back on rollback. */
export function createTargetActivities({ record, activity, valueAt, targetAdapter }: ProviderCalls) {
  return {
    /** What every target holds before distribute, in the order given: one activity for them all. */
    snapshotTargets: activity(
      'snapshotTargets',
      snapshotTargetsInputSchema,
      async ({ targets }): Promise<TargetSnapshot[]> =>
        Promise.all(targets.map(async (ref) => (await targetAdapter(ref)).snapshot(ref.spec))),
    ),

    writeTarget: activity(
      'writeTarget',
      writeInputSchema,
      async ({ target: ref, value, audit: context }): Promise<TargetWritten> => {
        await (await targetAdapter(ref)).write(ref.spec, await valueAt(value, ref.field));
        const writtenAt = new Date().toISOString();
        await record(context, { event: 'distributed', vault: { staged: value.version } });
        return { writtenAt };
      },
    ),

    /** Whether the target holds the store version `value` (the health check): the answer carries no value. */
    checkTarget: activity(
      'checkTarget',
      checkTargetInputSchema,
      async ({ target: ref, value, since }): Promise<TargetCheck> =>
        (await targetAdapter(ref)).holds(ref.spec, { value: await valueAt(value, ref.field), since }),
    ),

    restoreTarget: activity(
      'restoreTarget',
      restoreInputSchema,
      async ({ target: ref, snapshot, previous }): Promise<void> => {
        const previousValue = previous === undefined ? undefined : await valueAt(previous, ref.field);
        await (await targetAdapter(ref)).restore(ref.spec, snapshot, previousValue);
      },
    ),
  };
}
