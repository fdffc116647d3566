import type { Client } from '@temporalio/client';
import type { breakGlass } from '../../workflows';
import { CREDENTIAL_ID } from '../search-attributes';
import { parseOrThrow } from '../validation';
import { breakGlassInput } from './input';
import { breakGlassRequestSchema, breakGlassWorkflowId, type BreakGlassRequest } from './request';

/**
 * Starts the break-glass rotation of the credential a leaked token matched, or joins the one running: its
 * workflow id is `break-glass/<credentialId>` and a running one is used as it is, so that an alert delivered
 * twice (a webhook whose answer was lost) revokes and rotates once. The request is checked first, naming each
 * bad path (nothing is started); the fingerprint stays here, out of the workflow's history.
 */
export async function startBreakGlass(client: Client, taskQueue: string, request: BreakGlassRequest) {
  const checked = parseOrThrow(breakGlassRequestSchema, request, 'break-glass request');
  const { credentialId, alert, requestedBy } = checked;
  return client.workflow.start<typeof breakGlass>('breakGlass', {
    taskQueue,
    workflowId: breakGlassWorkflowId(credentialId),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [breakGlassInput(checked)],
    staticSummary: `break-glass ${credentialId}: leak alert ${alert.source} ${alert.id}`,
    staticDetails: [
      `- **Credential:** ${credentialId}`,
      `- **Alert:** ${alert.source} ${alert.id}${alert.url === undefined ? '' : ` (${alert.url})`}`,
      `- **Received:** ${alert.receivedAt}${alert.reportedBy === undefined ? '' : ` from ${alert.reportedBy}`}`,
      `- **Requested by:** ${requestedBy}`,
    ].join('\n'),
    // Set at start too, so that `rotator status` and `history` list it before its first workflow task runs.
    typedSearchAttributes: [{ key: CREDENTIAL_ID, value: credentialId }],
  });
}

/**
 * What intake calls: starts the break-glass rotation, or joins the running one, and says which for its answer.
 * Two alerts at once may both be told `started`; the workflow id still makes them one rotation.
 */
export async function startOrJoinBreakGlass(
  client: Client,
  taskQueue: string,
  request: BreakGlassRequest,
): Promise<{ workflowId: string; alreadyRunning: boolean }> {
  const running = await client.workflow
    .getHandle(breakGlassWorkflowId(request.credentialId))
    .describe()
    .then(
      ({ status }) => status.name === 'RUNNING',
      () => false,
    );
  const { workflowId } = await startBreakGlass(client, taskQueue, request);
  return { workflowId, alreadyRunning: running };
}
