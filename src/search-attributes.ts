import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

/*
 * What operators filter rotations by in the Temporal UI and CLI, e.g.
 * `temporal workflow list --query 'CredentialId="deployer-production" AND RotationOutcome="rolled-back"'`.
 * The server must know them first: the test setup registers them on its dev server, and
 * `temporal operator search-attribute create` does it on any other.
 */
export const CREDENTIAL_ID = defineSearchAttributeKey('CredentialId', SearchAttributeType.KEYWORD);
export const CREDENTIAL_KIND = defineSearchAttributeKey('CredentialKind', SearchAttributeType.KEYWORD);
export const ENVIRONMENT = defineSearchAttributeKey('Environment', SearchAttributeType.KEYWORD);
export const ROTATION_PHASE = defineSearchAttributeKey('RotationPhase', SearchAttributeType.KEYWORD);
export const ROTATION_OUTCOME = defineSearchAttributeKey('RotationOutcome', SearchAttributeType.KEYWORD);

export const ROTATION_SEARCH_ATTRIBUTES = [
  CREDENTIAL_ID,
  CREDENTIAL_KIND,
  ENVIRONMENT,
  ROTATION_PHASE,
  ROTATION_OUTCOME,
];
