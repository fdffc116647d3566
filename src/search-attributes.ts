import type { SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';

/*
 * What operators filter rotations by in the Temporal UI and CLI, e.g.
 * `temporal workflow list --query 'CredentialId="deployer-production" AND RotationOutcome="rolled-back"'`.
 * The server must know them first: the test setup registers them on its dev server, and
 * `temporal operator search-attribute create` does it on any other.
 */

/** `defineSearchAttributeKey`, without loading the SDK's common module into commands that read only files. */
const keyword = (name: string): SearchAttributeKey<typeof SearchAttributeType.KEYWORD> => ({
  name,
  type: 'KEYWORD',
});
export const CREDENTIAL_ID = keyword('CredentialId');
export const CREDENTIAL_KIND = keyword('CredentialKind');
export const ENVIRONMENT = keyword('Environment');
export const ROTATION_PHASE = keyword('RotationPhase');
export const ROTATION_OUTCOME = keyword('RotationOutcome');

export const ROTATION_SEARCH_ATTRIBUTES = [
  CREDENTIAL_ID,
  CREDENTIAL_KIND,
  ENVIRONMENT,
  ROTATION_PHASE,
  ROTATION_OUTCOME,
];
