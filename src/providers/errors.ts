/** How a provider call failed, in the terms the workflow acts on. */
export type ProviderErrorKind =
  | 'auth'
  | 'not-found'
  | 'conflict'
  | 'rate-limited'
  | 'transient'
  | 'permanent'
  /** The credential is gone with nothing to replace it, such as an OAuth2 chain revoked after a lost answer. */
  | 'credential-lost'
  /** Someone else used the credential (an OAuth2 refresh token reused): treat it as stolen. */
  | 'compromised';

export interface ProviderErrorDetails {
  /** `gitlab`, `github`, ... */
  provider: string;
  /** What the worker was doing: `issue (rotate-in-place)`, `write CI variable`, ... */
  step: string;
  /** The provider's resource, such as `project platform/web variable DEPLOY_TOKEN (scope *)`. */
  resource: string;
  /** HTTP status; absent when the provider could not be reached or its answer was unusable. */
  status?: number;
  kind: ProviderErrorKind;
  /** How long the provider asked us to wait (its `Retry-After`). */
  retryAfterMs?: number;
  /**
   * True when the request may have changed the provider even though no answer arrived (a dropped
   * connection after a POST): whoever recovers must look before trying again.
   */
  outcomeUnknown?: boolean;
  /** The provider's own reason, which never contains a credential. */
  reason: string;
}

/** A failed provider call. The message names provider, step, resource, status and reason, never a value. */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly provider: string;
  readonly step: string;
  readonly resource: string;
  readonly status: number | undefined;
  readonly kind: ProviderErrorKind;
  readonly reason: string;
  readonly retryAfterMs: number | undefined;
  readonly outcomeUnknown: boolean;
  readonly retryable: boolean;

  constructor(details: ProviderErrorDetails) {
    const status = details.status === undefined ? '' : `HTTP ${details.status}: `;
    super(`${details.provider} ${details.step} ${details.resource} failed: ${status}${details.reason}`);
    this.provider = details.provider;
    this.step = details.step;
    this.resource = details.resource;
    this.status = details.status;
    this.kind = details.kind;
    this.reason = details.reason;
    this.retryAfterMs = details.retryAfterMs;
    this.outcomeUnknown = details.outcomeUnknown ?? false;
    this.retryable = details.kind === 'rate-limited' || details.kind === 'transient';
  }
}

/**
 * A refusal the provider calls a conflict (GitLab's 400, GitHub's 422) that is a mistake in the inventory at
 * this call site, such as a canary's pipeline that cannot run: the same failure, `permanent`.
 */
export function asConfigurationError(error: unknown): unknown {
  if (!(error instanceof ProviderError) || error.kind !== 'conflict') return error;
  const { provider, step, resource, status, reason } = error;
  return new ProviderError({ provider, step, resource, status, reason, kind: 'permanent' });
}
