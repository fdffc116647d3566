import { proxyActivities } from '@temporalio/workflow';

const { nothing } = proxyActivities<{ nothing(): Promise<void> }>({ startToCloseTimeout: '30 seconds' });

/** Temporal's own floor: as many activities as a rotation runs, one after another, each doing nothing. */
export async function floor(activities: number): Promise<void> {
  for (let i = 0; i < activities; i += 1) await nothing();
}
