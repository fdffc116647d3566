import { CancellationScope, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AlertRequest } from '../activities/alerts';

/** A webhook that is down for a minute still gets the alert; one down longer is recorded as failed. */
const alerting: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 5 },
};
const { sendAlert: send } = proxyActivities<Activities>(alerting);

/**
 * Sends one alert, which cancellation cannot stop: an alert often follows a rollback that ran because the
 * workflow was cancelled. Rejects once its retries are spent; the caller records that and goes on.
 */
export function sendAlert(alert: AlertRequest): Promise<void> {
  return CancellationScope.nonCancellable(() =>
    send.executeWithOptions(
      { ...alerting, summary: `send the ${alert.kind} alert about ${alert.credentialId}` },
      [alert],
    ),
  );
}
