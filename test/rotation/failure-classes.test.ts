import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  RetryState,
  TimeoutFailure,
  TimeoutType,
} from '@temporalio/common';
import { classifyFailure } from '../../workflows/failures';

/** What the workflow sees when an activity failed with `cause` once its retries were spent. */
const failedActivity = (cause: Error) =>
  new ActivityFailure(
    'Activity task failed',
    'writeTarget',
    '7',
    RetryState.MAXIMUM_ATTEMPTS_REACHED,
    'worker',
    cause,
  );
const providerFailure = (kind: string, details: object = {}, nonRetryable = false) =>
  failedActivity(
    ApplicationFailure.create({
      message: `gitlab write project p CI variable K failed: ${kind}`,
      type: `ProviderError:${kind}`,
      nonRetryable,
      details: [{ system: 'gitlab', ...details }],
    }),
  );
const ownFailure = (type: string, details: object = {}, nonRetryable = true) =>
  failedActivity(
    ApplicationFailure.create({ message: `${type} happened`, type, nonRetryable, details: [details] }),
  );

describe('classifyFailure: the runbook class of what a step raised once its retries were spent', () => {
  it.each([
    ['rate-limited', providerFailure('rate-limited', { status: 429, retryAfterMs: 5000 })],
    ['auth', providerFailure('auth', { status: 401 }, true)],
    ['conflict', providerFailure('conflict', { status: 409 }, true)],
    ['transient', providerFailure('transient', { status: 503 })],
    ['lost-response', providerFailure('transient', { outcomeUnknown: true })],
    ['permanent', providerFailure('not-found', { status: 404 }, true)],
    ['permanent', providerFailure('permanent', { status: 400 }, true)],
    ['store-unavailable', ownFailure('VaultError', { system: 'vault' }, false)],
    ['store-unavailable', ownFailure('VaultUnavailable')],
    ['conflict', ownFailure('VaultError', { system: 'vault', status: 400 })],
    ['auth', ownFailure('VaultError', { system: 'vault', status: 403, denied: true })],
    ['auth', ownFailure('VaultError', { system: 'aws-secrets-manager', status: 400, denied: true })],
    // As 0.2.0 recorded a refusal, before it said whether the worker was denied.
    ['permanent', ownFailure('VaultError', { system: 'vault', status: 403 })],
    ['conflict', ownFailure('PromoteConflict')],
    ['permanent', ownFailure('ValidationError')],
    ['lost-response', failedActivity(new TimeoutFailure('heartbeat', undefined, TimeoutType.HEARTBEAT))],
    ['cancelled', new CancelledFailure('cancelled')],
    ['transient', failedActivity(new Error('something nobody classified'))],
  ])('%s', (expected, error) => {
    expect(classifyFailure(error).class).toBe(expected);
  });

  it('keeps the provider’s own message and Retry-After, and flags a lost credential for an alert', () => {
    expect(classifyFailure(providerFailure('rate-limited', { retryAfterMs: 5000 }))).toEqual({
      class: 'rate-limited',
      message: 'gitlab write project p CI variable K failed: rate-limited',
      retryAfterMs: 5000,
      alert: false,
    });
    expect(classifyFailure(ownFailure('CredentialLost'))).toMatchObject({
      class: 'permanent',
      alert: true,
      outcome: 'compromised-or-lost',
    });
  });
});
