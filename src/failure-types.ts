/*
 * The failure types the activities raise and the workflows classify, in one place. No imports: the workflow
 * sandbox loads this file too.
 */

export const FAILURE_TYPES = {
  /** An input that does not parse: a bug or a bad inventory, never worth a retry. */
  validation: 'ValidationError',
  /** The inventory is invalid or does not name the credential. */
  inventory: 'InventoryError',
  /** Someone else changed the current secret since detect read it. */
  promoteConflict: 'PromoteConflict',
  /** No live token is left: a person must make one. */
  credentialLost: 'CredentialLost',
  /** The store did not come back within the bounded wait (the wire name 0.2.0 histories carry). */
  storeUnavailable: 'VaultUnavailable',
  /** A store call failed; its details say how (the wire name 0.2.0 histories carry). */
  store: 'VaultError',
  /** An approval whose signature, approver or rotation does not check out. */
  approvalRefused: 'ApprovalRefused',
  /** The canary pipeline failed, or did not end within its timeout. */
  canaryFailed: 'CanaryFailed',
  /** The workflow's own ends: rolled back, or failed after promote. */
  rolledBack: 'RotationRolledBack',
  incomplete: 'RotationIncomplete',
} as const;

/** What no activity retry can change. */
export const NON_RETRYABLE_TYPES: string[] = [
  FAILURE_TYPES.validation,
  FAILURE_TYPES.inventory,
  FAILURE_TYPES.promoteConflict,
  FAILURE_TYPES.approvalRefused,
];

const PROVIDER_ERROR = 'ProviderError:';

/** A provider failure's type carries its kind (`auth`, `not-found`, ...) after the prefix. */
export function providerFailureType(kind: string): string {
  return `${PROVIDER_ERROR}${kind}`;
}

/** The provider failure kind a failure type carries, if it is one. */
export function providerKindOf(type: string | null | undefined): string | undefined {
  return type?.startsWith(PROVIDER_ERROR) === true ? type.slice(PROVIDER_ERROR.length) : undefined;
}
