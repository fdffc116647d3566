import { z } from 'zod';
import type { RunningJob } from '../src/providers/types';
import { pollUntil } from './polling';
import { adapterRefSchema, type ProviderCalls } from './provider-calls';

const drainInputSchema = z
  .object({
    consumers: z.array(adapterRefSchema).min(1),
    /** When every target had the new value. */
    switchedAt: z.iso.datetime({ offset: true }),
    /** The ids of the jobs the workflow knows run: a change to them ends the wait, so it can show it. */
    known: z.array(z.string()),
    /** The overlap's end as it stands: the wait ends there whatever still runs. */
    until: z.iso.datetime({ offset: true }),
    pollMs: z.number().int().positive(),
  })
  .strict();
export type DrainInput = z.infer<typeof drainInputSchema>;

/** The CI jobs that read a credential: the job-aware overlap waits until those that may hold the old value end. */
export function createConsumerActivities({ activity, consumerAdapter }: ProviderCalls) {
  /** Every job still running that started before the switch, in every consumer, in the inventory's order. */
  const stillRunning = async (input: DrainInput): Promise<RunningJob[]> => {
    const lists = [];
    for (const ref of input.consumers)
      lists.push(await (await consumerAdapter(ref)).stillRunning(ref.spec, input.switchedAt));
    return lists.flat();
  };
  return {
    /**
     * Lists the jobs every `pollMs` until none that started before the switch runs, the set differs from
     * `known`, or `until` passes: one activity for a long wait, so a two-hour drain adds a few history events
     * per job that ends, not per poll. A rate limit is waited out here, as long as the provider asks.
     */
    awaitJobsDrained: activity(
      'awaitJobsDrained',
      drainInputSchema,
      async (input): Promise<{ running: RunningJob[] }> => {
        const known = [...input.known].sort().join(' ');
        const changed = (running: RunningJob[]) =>
          running
            .map(({ id }) => id)
            .sort()
            .join(' ') !== known;
        const running = await pollUntil({
          look: () => stillRunning(input),
          done: (jobs) => jobs.length === 0 || changed(jobs),
          until: Date.parse(input.until),
          pollMs: input.pollMs,
        });
        return { running };
      },
    ),
  };
}
