/**
 * Alerts: what someone must look at, sent to a Slack-compatible webhook (`ROTATOR_ALERT_WEBHOOK_URL`).
 * Every field is an id, a time, a link or a sentence the workflow wrote from ids; never a secret value.
 */

export const ALERT_KINDS = [
  'rollback',
  'needs-operator',
  'compromised',
  'compromised-or-lost',
  'old-token-still-used',
  'jobs-still-running',
  'drift',
  'overdue',
  'invalid-token',
  'expiring',
  'replica-not-in-sync',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export type AlertSeverity = 'critical' | 'warning';

/** A credential that someone else holds, or that is gone, is an incident; the rest can wait for office hours. */
export function severityOf(kind: AlertKind): AlertSeverity {
  return kind === 'compromised' || kind === 'compromised-or-lost' ? 'critical' : 'warning';
}

/** What the webhook receives: Slack shows `text`; other receivers read the structured fields. */
export interface AlertPayload {
  text: string;
  kind: AlertKind;
  severity: AlertSeverity;
  credentialId: string;
  /** The workflow that raised it: a rotation (`rotate/<id>`) or a health check. */
  workflowId: string;
  runId: string;
  /** The workflow's page in the Temporal Web UI. */
  uiUrl: string;
  message: string;
  at: string;
}

export function alertPayload(
  alert: { kind: AlertKind; credentialId: string; message: string },
  workflow: { workflowId: string; runId: string; namespace: string },
  temporalUiUrl: string,
  at: Date,
): AlertPayload {
  const severity = severityOf(alert.kind);
  const uiUrl =
    `${temporalUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(workflow.namespace)}` +
    `/workflows/${encodeURIComponent(workflow.workflowId)}/${encodeURIComponent(workflow.runId)}/history`;
  return {
    text: `[${severity}] ${alert.kind}: ${alert.credentialId}: ${alert.message} (<${uiUrl}|${workflow.workflowId}>)`,
    kind: alert.kind,
    severity,
    credentialId: alert.credentialId,
    workflowId: workflow.workflowId,
    runId: workflow.runId,
    uiUrl,
    message: alert.message,
    at: at.toISOString(),
  };
}

/** How long the webhook may take to answer before the attempt counts as failed (the activity retries). */
const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * Posts the payload as JSON. A Slack webhook URL is itself a credential, so errors name only the host and
 * the status, never the URL's path.
 */
export async function postAlert(webhookUrl: string, payload: AlertPayload): Promise<void> {
  const host = new URL(webhookUrl).host;
  const answer = await fetch(webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
  }).then(
    async (response) => {
      await response.body?.cancel();
      return response.status;
    },
    // Only the network's error code: the error itself may carry the request, URL included.
    (error: unknown) => {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown error';
    },
  );
  if (typeof answer === 'string')
    throw new Error(`the alert webhook at ${host} could not be reached (${answer})`);
  if (answer < 200 || answer >= 300) throw new Error(`the alert webhook at ${host} answered HTTP ${answer}`);
}
