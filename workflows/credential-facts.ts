import type { CurrentVersion } from '../activities/health';
import type { RotationPlan } from '../src/inventory/plan';
import type { CredentialState, TargetCheck } from '../src/providers/types';

/**
 * How one credential is asked about, by the health check's workflow (activities) and by `rotator
 * verify-state` (the same activities, called in its process): the answers carry no value.
 */
export interface CredentialQuestions {
  readCurrentVersion(plan: RotationPlan): Promise<CurrentVersion>;
  inspectCredential(plan: RotationPlan, current: CurrentVersion): Promise<CredentialState>;
  checkTarget(
    target: RotationPlan['targets'][number],
    current: CurrentVersion,
    since: string | undefined,
  ): Promise<TargetCheck>;
  /** Whether the provider said the token does not exist. */
  isNotFound(error: unknown): boolean;
  messageOf(error: unknown): string;
}

/** What was found: the current version, the token at the provider, each target; what could not be asked. */
export interface CredentialFacts {
  current: CurrentVersion;
  /** `missing` at the provider; undefined when the provider could not be asked. */
  token: CredentialState | 'missing' | undefined;
  /** In the inventory's order; `check` is absent for a target that could not be asked. */
  targets: { name: string; check?: TargetCheck }[];
  /** Each question that could not be asked, naming whom it was put to. */
  unchecked: string[];
}

/**
 * Asks the store for the current version, the provider about its token, and every target (at once) whether
 * it holds that version. An unreadable current version ends the questions: `unreadable` says why.
 */
export async function credentialFacts(
  plan: RotationPlan,
  ask: CredentialQuestions,
): Promise<CredentialFacts | { unreadable: string }> {
  let current: CurrentVersion;
  try {
    current = await ask.readCurrentVersion(plan);
  } catch (error) {
    return { unreadable: ask.messageOf(error) };
  }
  const unchecked: string[] = [];
  const token = await ask.inspectCredential(plan, current).catch((error: unknown) => {
    if (ask.isNotFound(error)) return 'missing' as const;
    unchecked.push(`${plan.source.name}: ${ask.messageOf(error)}`);
    return undefined;
  });
  const since = typeof token === 'object' ? token.createdAt : undefined;
  const targets = await Promise.all(
    plan.targets.map(async (target) => {
      const check = await ask.checkTarget(target, current, since).catch((error: unknown) => {
        unchecked.push(`${target.name}: ${ask.messageOf(error)}`);
        return undefined;
      });
      return check === undefined ? { name: target.name } : { name: target.name, check };
    }),
  );
  return { current, token, targets, unchecked };
}
