import type { Client } from '@temporalio/client';
import { statusQuery, type IncidentRecord, type RotationStatus } from '../../workflows/status';
import { breakGlassWorkflowId } from './request';

/** A break-glass rotation's incident record, with where to find the rotation. */
export interface IncidentReport {
  credentialId: string;
  workflowId: string;
  runId: string;
  phase: RotationStatus['phase'];
  outcome?: RotationStatus['outcome'];
  detail?: string;
  incident: IncidentRecord;
  /** The decisions the rotation recorded: about a normal rotation in flight, and which token to revoke. */
  decisions: string[];
  alerts: string[];
}

/** A break-glass rotation that did not answer its status query: no worker polls its task queue. */
export class IncidentUnanswered extends Error {}

/** The workflow id of `id`: a break-glass workflow id as it is, or a credential's. */
export const incidentWorkflowId = (id: string): string =>
  id.startsWith(breakGlassWorkflowId('')) ? id : breakGlassWorkflowId(id);

/**
 * The latest break-glass rotation of a credential (or the one its workflow id names), from its `status`
 * query, which a worker answers; undefined when it has no incident record (no break-glass rotation).
 */
export async function readIncident(client: Client, id: string): Promise<IncidentReport | undefined> {
  const handle = client.workflow.getHandle(incidentWorkflowId(id));
  const { runId } = await handle.describe();
  const status = await client.workflow
    .getHandle(handle.workflowId, runId)
    .query(statusQuery)
    .catch((error: unknown) => {
      // A query is answered by a worker, which replays an ended rotation to do so.
      throw new IncidentUnanswered(
        `${handle.workflowId} did not answer its status query (${error instanceof Error ? error.message : String(error)})`,
      );
    });
  if (status.incident === undefined) return undefined;
  const { credentialId, phase, outcome, detail, incident, timeline, alerts } = status;
  return {
    credentialId,
    workflowId: handle.workflowId,
    runId,
    phase,
    ...(outcome === undefined ? {} : { outcome }),
    ...(detail === undefined ? {} : { detail }),
    incident,
    // A decision is a moment: it starts and ends at once.
    decisions: timeline.filter(({ startedAt, endedAt }) => startedAt === endedAt).map(({ step }) => step),
    alerts,
  };
}

/** The incident as operators read it: the key figure first, then the timeline in order. */
export function incidentText(report: IncidentReport, url: string): string {
  const { incident } = report;
  const { alert, leaked, timeline } = incident;
  const moment = (label: string, at: string | undefined) => `    ${(at ?? '-').padEnd(24)}  ${label}`;
  const lines = [
    `incident of ${report.credentialId}: ${report.outcome ?? `running, phase ${report.phase}`}`,
    `  seconds from alert to revocation: ${incident.secondsToRevocation ?? '-'}`,
    `  alert     ${alert.source} ${alert.id}${alert.url === undefined ? '' : ` ${alert.url}`}` +
      (alert.reportedBy === undefined ? '' : `, reported by ${alert.reportedBy}`),
    `  leaked    token ${leaked.tokenId ?? '?'} (${leaked.version} version, field ${leaked.field})`,
    `  workflow  ${report.workflowId} (run ${report.runId})`,
    `  web UI    ${url}`,
    '  timeline',
    moment('alert received', timeline.alertReceivedAt),
    moment('credential matched', timeline.matchedAt),
    ...(timeline.leakedConfirmedRevokedAt === undefined
      ? []
      : [moment('leaked token confirmed revoked at the provider', timeline.leakedConfirmedRevokedAt)]),
    moment('leaked token revoked', timeline.leakedRevokedAt),
    moment('new token live in every target', timeline.newTokenLiveAt),
    moment('dependents resumed', timeline.dependentsResumedAt),
    moment(`reviewed by ${timeline.reviewedBy ?? 'nobody yet'}`, timeline.reviewedAt),
  ];
  if (report.detail !== undefined) lines.push(`  outcome   ${report.detail}`);
  if (report.decisions.length > 0)
    lines.push('  decisions', ...report.decisions.map((text) => `    ${text}`));
  if (report.alerts.length > 0) lines.push('  alerts', ...report.alerts.map((text) => `    ${text}`));
  return `${lines.join('\n')}\n`;
}
