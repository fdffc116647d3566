import type { RotationPlan } from '../activities/rotation';

/** A plan as 0.2.0 loaded it: its Vault secret as `vault`, with the staged path below it as `staged`. */
interface VaultPlan extends Omit<RotationPlan, 'store'> {
  vault: { mount: string; path: string };
  staged: { mount: string; path: string };
}

/** What a history's load step may hold: a plan of this release, or of 0.2.0 (a rotation under way at upgrade). */
export type LoadedPlan = RotationPlan | VaultPlan;

/** The plan in this release's shape, so that a rotation 0.2.0 started goes on after an upgrade. */
export function planOf(loaded: LoadedPlan): RotationPlan {
  if ('store' in loaded) return loaded;
  // `staged` goes: the Vault store finds the staged path below the secret's own.
  const { credentialId, kind, environment, source, targets, dependents, policy, vault } = loaded;
  const store = { name: `Vault ${vault.mount}/${vault.path}`, ref: vault };
  return { credentialId, kind, environment, source, targets, dependents, store, policy };
}
