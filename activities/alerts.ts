import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { ALERT_KINDS, alertPayload, postAlert } from '../src/alerts';
import { DEFAULT_TEMPORAL_UI_URL } from '../src/config/environment';
import { parseOrThrow } from '../src/validation';
import { asActivity } from './failures';
import { FAILURE_TYPES } from '../src/failure-types';

export const alertRequestSchema = z
  .object({
    kind: z.enum(ALERT_KINDS),
    credentialId: z.string().min(1),
    /** A sentence made of ids and times: never a value. */
    message: z.string().min(1),
  })
  .strict();
export type AlertRequest = z.infer<typeof alertRequestSchema>;

/** Counts every alert raised, so that drift, invalid tokens and overdue rotations show in metrics too. */
export const ALERTS_METRIC = 'rotator_alerts';

/** Where alerts go; without a webhook they are logged, so that they are never lost silently. */
export interface AlertSettings {
  webhookUrl?: string;
  /** The Temporal Web UI each alert links to. */
  temporalUiUrl?: string;
}

export function createAlertActivities({
  webhookUrl,
  temporalUiUrl = DEFAULT_TEMPORAL_UI_URL,
}: AlertSettings) {
  return {
    /**
     * Sends one alert, naming the workflow that raised it (from this activity's own context) and linking to
     * it. A webhook that fails throws, and Temporal retries.
     */
    async sendAlert(input: AlertRequest): Promise<void> {
      return asActivity(async () => {
        const alert = parseOrThrow(alertRequestSchema, input, 'sendAlert input');
        const { info, log, metricMeter } = Context.current();
        if (info.workflowExecution === undefined) {
          throw ApplicationFailure.nonRetryable(
            'sendAlert: an alert links to the workflow that raised it, so only a workflow can send one',
            FAILURE_TYPES.validation,
          );
        }
        const payload = alertPayload(
          alert,
          { ...info.workflowExecution, namespace: info.namespace },
          temporalUiUrl,
          new Date(),
        );
        if (webhookUrl === undefined) log.warn(`alert: ${payload.text}`, { alert: payload });
        else await postAlert(webhookUrl, payload);
        metricMeter
          .createCounter(ALERTS_METRIC, 'alerts', 'Alerts raised, by kind, severity and credential')
          .add(1, { kind: payload.kind, severity: payload.severity, credential_id: payload.credentialId });
      });
    },
  };
}
