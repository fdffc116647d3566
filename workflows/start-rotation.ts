import { ParentClosePolicy, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { RotationRequest } from '../activities/rotation';
import { rotationDetails, rotationSummary, rotationWorkflowId } from '../src/rotation-names';
import { CREDENTIAL_ID } from '../src/search-attributes';
import { rotateCredential } from './rotate-credential';

/**
 * Starts `rotate/<credentialId>` as a child that is abandoned rather than terminated should the parent end:
 * a rotation must never be cut off in the middle, where only its own rollback may stop it. Answers undefined
 * when another rotation of the credential is running, which Temporal refuses by its workflow id.
 */
export async function startRotationChild(
  rotation: RotationRequest,
  startedBy: string,
  summary = rotationSummary(rotation),
) {
  try {
    return await startChild(rotateCredential, {
      workflowId: rotationWorkflowId(rotation.credentialId),
      args: [rotation],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [{ key: CREDENTIAL_ID, value: rotation.credentialId }],
      staticSummary: summary,
      staticDetails: rotationDetails(rotation, `${startedBy} ${workflowInfo().workflowId}`),
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return undefined;
    throw error;
  }
}
