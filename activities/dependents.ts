import { z } from 'zod';
import type { PauseRecord } from '../src/providers/types';
import { adapterRefSchema, audited, type ProviderCalls } from './provider-calls';

const dependentInputSchema = z.object({ dependent: adapterRefSchema, ...audited }).strict();
const resumeInputSchema = dependentInputSchema
  .extend({ record: z.object({ paused: z.array(z.number().int()) }).strict() })
  .strict();

export type DependentInput = z.infer<typeof dependentInputSchema>;
export type ResumeDependentInput = z.infer<typeof resumeInputSchema>;

/** What uses the credential and is held still while it changes (scheduled pipelines). */
export function createDependentActivities({ record, activity, dependentAdapter }: ProviderCalls) {
  return {
    pauseDependent: activity(
      'pauseDependent',
      dependentInputSchema,
      async ({ dependent: ref, audit: context }): Promise<PauseRecord> => {
        const paused = await (await dependentAdapter(ref)).pause(ref.spec);
        await record(context, { event: 'paused' });
        return paused;
      },
    ),

    resumeDependent: activity(
      'resumeDependent',
      resumeInputSchema,
      async ({ dependent: ref, record: paused, audit: context }): Promise<void> => {
        await (await dependentAdapter(ref)).resume(ref.spec, paused);
        await record(context, { event: 'resumed' });
      },
    ),
  };
}
