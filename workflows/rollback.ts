import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';

/** One step's undo, pushed right beside the step; rollback runs them newest first. */
export interface Compensation {
  /** What undoing does, such as `restore project platform/web CI variable DEPLOY_TOKEN`. */
  what: string;
  run: () => Promise<unknown>;
  /** How its last run went: `done`, or `FAILED (why)`. */
  result?: string;
}

/**
 * Runs the compensations, newest first, whatever becomes of the others; cancellation cannot stop it.
 * Answers the ones that failed, in the order `undo` holds them, so that they can be run again.
 */
export async function compensate(undo: Compensation[]): Promise<Compensation[]> {
  await CancellationScope.nonCancellable(async () => {
    for (const compensation of [...undo].reverse()) {
      await compensation.run().then(
        () => (compensation.result = 'done'),
        (error: unknown) => (compensation.result = `FAILED (${messageOf(error)})`),
      );
    }
  });
  return undo.filter(({ result }) => result !== 'done');
}

/** What rollback did, newest first, for the failure message. */
export function rollbackReport(undo: Compensation[]): string {
  return (
    [...undo]
      .reverse()
      .map(({ what, result }) => `${what}: ${result ?? 'not run'}`)
      .join('; ') || 'nothing had changed'
  );
}

/** An activity's own message rather than Temporal's "Activity task failed"; never carries a value. */
export function messageOf(error: unknown): string {
  if (isCancellation(error)) return 'cancelled';
  if (error instanceof ActivityFailure) return error.cause?.message ?? error.message;
  return error instanceof Error ? error.message : String(error);
}

/** A mint that may have happened though its answer never came: the adapter flags it `outcomeUnknown`. */
export function mintAnswerLost(error: unknown): boolean {
  const cause = error instanceof ActivityFailure ? error.cause : undefined;
  const details =
    cause instanceof ApplicationFailure ? (cause.details?.[0] as { outcomeUnknown?: unknown }) : {};
  return details?.outcomeUnknown === true;
}
