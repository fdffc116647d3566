import type { Client } from '@temporalio/client';
import type { RotationRequest } from '../activities/rotation';
import type { rotateCredential } from '../workflows';
import { rotationDetails, rotationSummary, rotationWorkflowId } from './rotation-names';
import { CREDENTIAL_ID } from './search-attributes';

/** Starts a rotation; throws WorkflowExecutionAlreadyStartedError while the credential is rotating. */
export function startRotation(client: Client, taskQueue: string, request: RotationRequest) {
  return client.workflow.start<typeof rotateCredential>('rotateCredential', {
    taskQueue,
    workflowId: rotationWorkflowId(request.credentialId),
    args: [request],
    staticSummary: rotationSummary(request),
    staticDetails: rotationDetails(request),
    // Set at start too, so that visibility finds the rotation before its first workflow task runs.
    typedSearchAttributes: [{ key: CREDENTIAL_ID, value: request.credentialId }],
  });
}
