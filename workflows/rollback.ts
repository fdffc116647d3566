import { CancellationScope } from '@temporalio/workflow';
import { messageOf } from './failures';

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
