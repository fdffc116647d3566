import { run } from '../calls';
import type { Rotation } from '../rotation';

/** Reads the current credential and decides whether it is due; nothing to undo. */
export async function detect(r: Rotation): Promise<void> {
  const { plan, request } = r;
  r.detectedAt = new Date().toISOString();
  const call = () =>
    run('detectRotation', `check whether ${plan.source.name} is due for rotation`, [
      { source: plan.source.ref, store: plan.store.ref, policy: plan.policy, request },
    ]);
  const detection = await r.step('detect', 'detecting', () =>
    call().catch((error: unknown) => r.recover.from('detect', error, call)),
  );
  r.detection = detection;
  r.status.versions.current = detection.current.version;
  r.status.oldTokenId = detection.currentTokenId;
}
