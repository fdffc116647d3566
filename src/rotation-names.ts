import type { RotationRequest } from '../activities/rotation';

/*
 * What a rotation is called, in Temporal and in the Web UI: pure, so that the workflows use it too.
 */

/** One rotation per credential at a time: Temporal refuses a second start while one with this id runs. */
export function rotationWorkflowId(credentialId: string): string {
  return `rotate/${credentialId}`;
}

/** The Web UI's one-line summary of a rotation, in its list and on its page. */
export function rotationSummary(request: RotationRequest): string {
  return `rotate ${request.credentialId} (${request.reason})`;
}

/**
 * The Web UI's static details of a rotation, markdown: who asked for it, why, and how; `startedBy` names the
 * workflow that started it for them. A starter knows the credential's id only: its kind, environment and
 * targets are in the rotation's current details once it has read the inventory. Stored through the payload
 * codec; names only, never a value. The UI shows four lines without scrolling.
 */
export function rotationDetails(request: RotationRequest, startedBy?: string): string {
  return [
    `- **Credential:** ${request.credentialId}`,
    `- **Requested by:** ${request.requestedBy}${startedBy === undefined ? '' : ` through ${startedBy}`}`,
    `- **Reason:** ${request.reason}`,
    ...(request.force === true ? ['- **Forced:** rotates even when not due'] : []),
    ...(request.dryRun === true ? ['- **Dry run:** stops after detect and changes nothing'] : []),
  ].join('\n');
}
