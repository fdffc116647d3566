import type { ActivityOptions } from '@temporalio/workflow';
import { inParallel } from '../../src/parallel';
import { retried, run } from '../calls';
import type { Paused, Rotation } from '../rotation';

const resume = (r: Rotation, { dependent, record }: Paused, step: string, options: ActivityOptions) =>
  run(
    'resumeDependent',
    `resume ${dependent.name} as they were`,
    [{ dependent: dependent.ref, record, audit: r.audit.context(step, dependent.name) }],
    options,
  );

/** Pauses every dependent, recording each one's prior state; its undo resumes exactly that. */
export async function pauseAll(r: Rotation, step: string): Promise<void> {
  await inParallel(r.plan.dependents, async (dependent) => {
    const record = await r.recover(`pause ${dependent.name}`, () =>
      run('pauseDependent', `pause ${dependent.name} while ${r.id} rotates`, [
        { dependent: dependent.ref, audit: r.audit.context(step, dependent.name) },
      ]),
    );
    const paused = { dependent, record };
    r.paused.push(paused);
    r.resumes.push({
      what: `resume ${dependent.name}`,
      run: () => resume(r, paused, 'rollback', r.undoing),
    });
  });
}

export function pauseDependents(r: Rotation): Promise<void> {
  return r.step('pause dependents', 'pausing', () => pauseAll(r, 'pause dependents'));
}

/** Resumes what pause stopped, as it was; once resumed, rollback has nothing left to resume. */
export function resumeDependents(r: Rotation): Promise<void> {
  return r.step('resume dependents', 'resuming', async () => {
    await inParallel(r.paused, (paused) =>
      r.recover(`resume ${paused.dependent.name}`, () => resume(r, paused, 'resume dependents', retried)),
    );
    r.paused.length = 0;
    r.resumes.length = 0;
  });
}
