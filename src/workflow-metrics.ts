/*
 * A workflow interceptor module: it runs inside the workflow sandbox, bundled with the workflows, so it
 * imports only @temporalio/workflow and pure constants. The workflow's metric meter drops everything
 * emitted while a history is replayed, so a rotation resumed on another worker is not counted twice.
 * Metric names and labels are listed in docs/deployment.md, "Metrics".
 */
import {
  ApplicationFailure,
  CancelledFailure,
  metricMeter,
  workflowInfo,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import { ROTATION_OUTCOME } from './search-attributes';
import { FAILURE_TYPES } from './failure-types';

/** The workflow this module measures; others (the self-check) pass through. */
const ROTATION_WORKFLOW = 'rotateCredential';
/** The activities only recoveries run: a lost mint's search for orphans, the wait for the store (0.2.0 named it awaitVault). */
const RECOVERY_ACTIVITIES = new Set(['findOrphanCredentials', 'awaitStore', 'awaitVault']);
/** Step durations, in seconds: a step takes from well under a second to an hour of retries. */
export const STEP_DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export const METRICS = {
  started: 'rotator_rotations_started',
  finished: 'rotator_rotations_finished',
  rollbacks: 'rotator_rollbacks',
  recoveries: 'rotator_recoveries',
  stepDuration: 'rotator_step_duration_seconds',
} as const;

/**
 * How a rotation ended: the `RotationOutcome` search attribute the workflow set, else a cancellation, else
 * `failed` (the workflow threw before deciding, e.g. an invalid inventory).
 */
function outcomeOf(error?: unknown): string {
  const outcome = workflowInfo().typedSearchAttributes.get(ROTATION_OUTCOME);
  if (outcome !== undefined) return outcome;
  if (error === undefined) return 'unknown';
  return error instanceof CancelledFailure ? 'cancelled' : 'failed';
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  if (workflowInfo().workflowType !== ROTATION_WORKFLOW) return {};
  let credentialId = 'unknown';
  return {
    inbound: [
      {
        async execute(input, next) {
          const request = input.args[0] as { credentialId?: unknown; reason?: unknown } | undefined;
          if (typeof request?.credentialId === 'string') credentialId = request.credentialId;
          const reason = typeof request?.reason === 'string' ? request.reason : 'unknown';
          const tags = { credential_id: credentialId };
          metricMeter
            .createCounter(METRICS.started, undefined, 'Rotations started, by credential and reason')
            .add(1, { ...tags, reason });
          const finished = (error?: unknown) => {
            metricMeter
              .createCounter(METRICS.finished, undefined, 'Rotations finished, by credential and outcome')
              .add(1, { ...tags, outcome: outcomeOf(error) });
            if (error instanceof ApplicationFailure && error.type === FAILURE_TYPES.rolledBack) {
              metricMeter
                .createCounter(METRICS.rollbacks, undefined, 'Rotations rolled back after a failed step')
                .add(1, { ...tags, outcome: outcomeOf(error) });
            }
          };
          try {
            const result = await next(input);
            finished();
            return result;
          } catch (error) {
            finished(error);
            throw error;
          }
        },
      },
    ],
    outbound: [
      {
        async scheduleActivity(input, next) {
          if (RECOVERY_ACTIVITIES.has(input.activityType)) {
            metricMeter
              .createCounter(
                METRICS.recoveries,
                undefined,
                'Recoveries run: a lost mint, a wait for the store',
              )
              .add(1, { credential_id: credentialId, recovery: input.activityType });
          }
          // Workflow time: from scheduling to the result, retries and backoff included.
          const startedAt = Date.now();
          const record = (result: 'ok' | 'failed') =>
            metricMeter
              .createHistogram(
                METRICS.stepDuration,
                'float',
                undefined,
                'Duration of each rotation step, retries included',
              )
              .record((Date.now() - startedAt) / 1000, { step: input.activityType, result });
          try {
            const result = await next(input);
            record('ok');
            return result;
          } catch (error) {
            record('failed');
            throw error;
          }
        },
      },
    ],
  };
};
