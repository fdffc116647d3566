import { ApplicationFailure, patched, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { TargetWritten } from '../../activities/targets';
import { inParallel } from '../../src/parallel';
import { retried, retriedLocally, run, runLocal } from '../calls';
import type { Rotation } from '../rotation';
import type { TargetState } from '../status';

type Target = Rotation['plan']['targets'][number];

const mark = (r: Rotation, index: number, state: TargetState) => {
  const entry = r.status.targets[index];
  if (entry !== undefined) entry.state = state;
};

/**
 * Writes the new token to one target, as an activity with these options or as a local activity (`locally`);
 * `rollback` when rolling forward to it instead of back.
 */
const writeNewToken = async (
  r: Rotation,
  target: Target,
  index: number,
  step: 'distribute' | 'rollback',
  calling: ActivityOptions | 'locally',
): Promise<string | undefined> => {
  const { issued } = r;
  const rollingForward = step === 'rollback' ? 'roll forward: ' : '';
  const summary = `${rollingForward}write new token ${issued.tokenId} to ${target.name}`;
  const args: Parameters<Activities['writeTarget']> = [
    { target: target.ref, value: issued.staged, audit: r.audit.context(step, target.name) },
  ];
  // Undefined in histories recorded before writeTarget answered with its time.
  const written: TargetWritten | undefined = await (calling === 'locally'
    ? runLocal('writeTarget', summary, args, retriedLocally)
    : run('writeTarget', summary, args, calling));
  mark(r, index, 'written');
  return written?.writtenAt;
};

/** Writes the new token to every target, each with its undo: restore the target exactly as it was. */
export async function distribute(r: Rotation): Promise<void> {
  const { plan, detection } = r;
  await r.step('distribute', 'distributing', async () => {
    // A local activity records one marker per target where 0.2.0's activity took three events, and often a
    // workflow task of its own; its summary shows on the marker in the Web UI all the same. The snapshot
    // stays an activity: its result is in the history before any write starts, so a worker that dies
    // mid-write is replaced by one that restores from the state before distribute, not from its own writes.
    const writing = patched('target-writes-local-v1') ? 'locally' : retried;
    const snapshots =
      plan.targets.length === 0
        ? []
        : await r.recover('snapshot targets', () =>
            run(
              'snapshotTargets',
              `record the state of ${plan.targets.map(({ name }) => name).join(', ')}, for rollback`,
              [{ targets: plan.targets.map(({ ref }) => ref) }],
            ),
          );
    const writtenAt = await inParallel(plan.targets, async (target, index) => {
      const snapshot = snapshots[index];
      if (snapshot === undefined)
        throw ApplicationFailure.nonRetryable(`distribute: no snapshot of ${target.name}`);
      if (!r.rollsForward)
        r.undo.push({
          what: `restore ${target.name}`,
          run: async () => {
            try {
              await run(
                'restoreTarget',
                `rollback: restore ${target.name} as it was (old token ${detection.currentTokenId})`,
                [{ target: target.ref, snapshot, previous: detection.current }],
                r.undoing,
              );
              mark(r, index, 'restored');
            } catch (error) {
              mark(r, index, 'restore-failed');
              throw error;
            }
          },
        });
      return r
        .recover(`write ${target.name}`, () => writeNewToken(r, target, index, 'distribute', writing))
        .catch((error: unknown) => {
          mark(r, index, 'failed');
          throw error;
        });
    });
    // Workflow time stands still while local activities run: the last write's own time marks the switch.
    r.status.switchedAt = latest([new Date().toISOString(), ...writtenAt]);
  });
}

const latest = (times: (string | undefined)[]): string =>
  times.reduce<string>((last, time) => (time !== undefined && time > last ? time : last), '');

/** Rolling forward: the new token goes to every target, as distribute would have written it. */
export async function writeEveryTarget(r: Rotation): Promise<void> {
  await inParallel(r.plan.targets, (target, index) => writeNewToken(r, target, index, 'rollback', r.undoing));
}
