import { ApplicationFailure } from '@temporalio/workflow';
import { FAILURE_TYPES } from '../../src/failure-types';
import { humanDuration } from '../../src/human-duration';
import { retried, run, unlessStopped } from '../calls';
import { messageOf } from '../failures';
import { recordDecision } from '../operator';
import { RotationAborted, type Rotation } from '../rotation';
import type { CanaryStatus } from '../status';

/** Beyond the canary's timeout, the waiting activity has this long to answer. */
const ANSWER_MARGIN_MS = 60_000;

/**
 * Runs the credential's canary, a pipeline that uses the new token where its consumers do, while the old
 * token is still valid everywhere: a run that fails, or is still running at the canary's timeout, fails the
 * step and the rotation rolls back. Nothing to undo once it has ended; a run left running is cancelled.
 * `--skip-canary` skips it, recorded as a decision and in the audit log.
 */
export async function canary(r: Rotation): Promise<void> {
  const { plan, request, issued } = r;
  const { canary } = plan;
  if (canary === undefined) return;
  if (request.skipCanary !== undefined) {
    const skipped = `canary ${canary.name} skipped by ${request.requestedBy}: ${request.skipCanary.reason}`;
    r.status.canary = { name: canary.name, state: 'skipped' };
    recordDecision(r.status, skipped);
    r.audit.canarySkipped(skipped);
    return;
  }
  await r.step('canary', 'running-canary', async () => {
    const started = await r.recover('start canary', () =>
      run('startCanary', `start canary ${canary.name}, which uses new token ${issued.tokenId}`, [
        { canary: canary.ref },
      ]),
    );
    const shown: CanaryStatus = {
      name: canary.name,
      state: 'running',
      run: started.name,
      ...(started.url === undefined ? {} : { url: started.url }),
      startedAt: new Date().toISOString(),
    };
    r.status.canary = shown;
    r.show();
    const until = new Date(Date.now() + canary.timeout).toISOString();
    const stop = async () => {
      await run(
        'cancelCanary',
        `cancel ${started.name}`,
        [{ canary: canary.ref, run: started }],
        r.undoing,
      ).catch((error: unknown) =>
        recordDecision(r.status, `${started.name} could not be cancelled (${messageOf(error)})`),
      );
    };
    let ended;
    try {
      ended = await unlessStopped(
        () =>
          r.recover('canary', () =>
            run(
              'awaitCanary',
              `wait for ${started.name} to pass (until ${until})`,
              [
                {
                  canary: canary.ref,
                  run: started,
                  until,
                  pollMs: canary.poll,
                  audit: r.audit.context('canary', started.name),
                },
              ],
              { ...retried, startToCloseTimeout: canary.timeout + ANSWER_MARGIN_MS },
            ),
          ),
        () => r.aborted,
      );
    } catch (error) {
      // Not knowing how the run went fails the step like a failed run; the run itself is not waited for.
      await stop();
      throw error;
    }
    if (ended === undefined) {
      shown.state = 'cancelled';
      await stop();
      throw new RotationAborted();
    }
    shown.conclusion = ended.conclusion;
    if (ended.state === 'passed') {
      shown.state = 'passed';
      return;
    }
    if (ended.state === 'running') {
      shown.state = 'timed-out';
      await stop();
    } else {
      shown.state = 'failed';
    }
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.canaryFailed,
      nonRetryable: true,
      message: canaryFailure(shown, canary.timeout),
    });
  });
}

/** A failed canary in a sentence: its run, how it ended, where to read it; the rotation's failure message. */
function canaryFailure(canary: CanaryStatus, timeout: number): string {
  const how =
    canary.state === 'timed-out'
      ? `was still ${canary.conclusion ?? 'running'} after ${humanDuration(timeout)} and was cancelled`
      : `ended ${canary.conclusion ?? 'failed'}`;
  return `canary ${canary.run ?? canary.name} ${how}${canary.url === undefined ? '' : `: ${canary.url}`}`;
}
