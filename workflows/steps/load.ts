import { retried, run, runLocal } from '../calls';
import { humanDuration } from '../../src/human-duration';
import { recovering } from '../recovery';
import type { Rotation } from '../rotation';
import { CREDENTIAL_KIND, ENVIRONMENT } from '../../src/search-attributes';

/** How long a step waits for an unavailable Vault before the rotation rolls back. */
const DEFAULT_VAULT_WAIT_SECONDS = 300;

/** Reads the credential's plan from the inventory; nothing to undo. */
export async function load(r: Rotation): Promise<void> {
  const plan = await r.step('load', 'loading', () =>
    runLocal('loadCredential', `load ${r.id} from the inventory`, [r.request]),
  );
  r.plan = plan;
  r.shown.plan = plan;
  r.label({ key: CREDENTIAL_KIND, value: plan.kind }, { key: ENVIRONMENT, value: plan.environment });
  r.status.targets = plan.targets.map(({ name }) => ({ name, state: 'unchanged' }));
  const vaultWait = r.request.vaultWaitSeconds ?? DEFAULT_VAULT_WAIT_SECONDS;
  r.recover = recovering({
    failures: r.status.failures,
    recoveryStep: (name, step) => r.recoveryStep(name, step),
    awaitVault: () =>
      run(
        'awaitVault',
        `wait up to ${humanDuration(vaultWait * 1000)} for Vault ${plan.vault.mount} to answer`,
        [{ at: plan.vault, withinSeconds: vaultWait }],
        { ...retried, startToCloseTimeout: `${vaultWait + 30} seconds`, retry: { maximumAttempts: 2 } },
      ),
    recovered: r.audit.recovered,
    authNote:
      plan.source.ref.connection.fallbackCredential === undefined
        ? 'none: no fallbackCredential is configured for this provider'
        : 'the fallback admin token was tried and refused too',
  });
}
