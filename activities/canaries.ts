import { z } from 'zod';
import type { CanaryRun, CanaryState } from '../src/providers/types';
import { pollUntil } from './polling';
import { adapterRefSchema, audited, type ProviderCalls } from './provider-calls';

const canaryRunSchema = z
  .object({ id: z.string().min(1), name: z.string().min(1), url: z.string().min(1).optional() })
  .strict();

const startInputSchema = z.object({ canary: adapterRefSchema }).strict();
const awaitInputSchema = z
  .object({
    canary: adapterRefSchema,
    run: canaryRunSchema,
    /** The canary's timeout: the wait ends there whatever the run's state. */
    until: z.iso.datetime({ offset: true }),
    pollMs: z.number().int().positive(),
    ...audited,
  })
  .strict();
const cancelInputSchema = z.object({ canary: adapterRefSchema, run: canaryRunSchema }).strict();

/** The canary: a pipeline that proves the new value where it is used, before it is promoted. */
export function createCanaryActivities({ activity, canaryAdapter, record }: ProviderCalls) {
  return {
    startCanary: activity('startCanary', startInputSchema, async ({ canary }): Promise<CanaryRun> =>
      (await canaryAdapter(canary)).start(canary.spec),
    ),
    /**
     * Reads the run's state every `pollMs` until it ends or `until` passes (answering `running` then): one
     * activity for the whole wait. A run that passed is recorded in the audit log.
     */
    awaitCanary: activity('awaitCanary', awaitInputSchema, async (input): Promise<CanaryState> => {
      const adapter = await canaryAdapter(input.canary);
      const ended = await pollUntil({
        look: () => adapter.state(input.canary.spec, input.run),
        done: ({ state }) => state !== 'running',
        until: Date.parse(input.until),
        pollMs: input.pollMs,
      });
      if (ended.state === 'passed')
        await record(input.audit, {
          event: 'canary passed',
          detail: `${input.run.name} ${ended.conclusion}${input.run.url === undefined ? '' : ` (${input.run.url})`}`,
        });
      return ended;
    }),
    cancelCanary: activity('cancelCanary', cancelInputSchema, async ({ canary, run }): Promise<void> =>
      (await canaryAdapter(canary)).cancel(canary.spec, run),
    ),
  };
}
