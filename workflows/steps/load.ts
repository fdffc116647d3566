import { patched } from '@temporalio/workflow';
import { retried, run, runLocal } from '../calls';
import { planOf, type LoadedPlan } from '../plans';
import { humanDuration } from '../../src/human-duration';
import { recovering } from '../recovery';
import type { Rotation } from '../rotation';
import { CREDENTIAL_KIND, ENVIRONMENT } from '../../src/search-attributes';

/** How long a step waits for an unavailable store before the rotation rolls back. */
const DEFAULT_STORE_WAIT_SECONDS = 300;

/** Reads the credential's plan from the inventory; nothing to undo. */
export async function load(r: Rotation): Promise<void> {
  const loaded: LoadedPlan = await r.step('load', 'loading', () =>
    runLocal('loadCredential', `load ${r.id} from the inventory`, [r.request]),
  );
  const plan = planOf(loaded);
  r.plan = plan;
  r.shown.plan = plan;
  r.label({ key: CREDENTIAL_KIND, value: plan.kind }, { key: ENVIRONMENT, value: plan.environment });
  r.status.targets = plan.targets.map(({ name }) => ({ name, state: 'unchanged' }));
  const storeWait = r.request.vaultWaitSeconds ?? DEFAULT_STORE_WAIT_SECONDS;
  r.recover = recovering({
    failures: r.status.failures,
    recoveryStep: (name, step) => r.recoveryStep(name, step),
    awaitStore: () =>
      run(
        // The name 0.2.0 scheduled this wait by, kept for its histories until the patch is deprecated.
        patched('await-store-v1') ? 'awaitStore' : 'awaitVault',
        `wait up to ${humanDuration(storeWait * 1000)} for ${plan.store.name} to answer`,
        [{ at: plan.store.ref, withinSeconds: storeWait }],
        { ...retried, startToCloseTimeout: `${storeWait + 30} seconds`, retry: { maximumAttempts: 2 } },
      ),
    recovered: r.audit.recovered,
    authNote:
      plan.source.ref.connection.fallbackCredential === undefined
        ? 'none: no fallbackCredential is configured for this provider'
        : 'the fallback admin token was tried and refused too',
  });
}
