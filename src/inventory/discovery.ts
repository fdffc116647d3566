import { z } from 'zod';
import { crossFieldRule } from '../validation';
import { positiveDuration } from './durations';
import { githubRepository } from './github';
import { gitlabGroup } from './gitlab';
import { providerReference } from './providers';

/**
 * What `rotator discover --propose` writes where a person must fill in what discovery cannot know (the
 * secret's mount and path, the owner, the environment): `config check` refuses every one it finds.
 */
export const PLACEHOLDER = 'FILL-ME';

const watchSchema = z.union(
  [
    z
      .object({
        gitlab: providerReference('gitlab'),
        group: gitlabGroup.describe(
          'the group whose tokens and variables, subgroups and projects included, are watched',
        ),
      })
      .strict(),
    z
      .object({
        github: providerReference('github'),
        organization: z
          .string()
          .regex(/^[A-Za-z0-9-]+$/, 'expected a GitHub organization name')
          .describe('the organization whose secrets, and its repositories’, are watched'),
      })
      .strict(),
    z
      .object({
        github: providerReference('github'),
        repository: githubRepository.describe('the repository ("owner/repo") whose secrets are watched'),
      })
      .strict(),
  ],
  { error: 'expected { gitlab, group }, { github, organization } or { github, repository }' },
);
export type Watched = z.output<typeof watchSchema>;

/**
 * Tokens no credential owns: where to look for them, and when their expiry is worth a warning. A block of
 * its own beside `credentials`, since these settings belong to no credential's `policy`.
 */
export const discoverySchema = z
  .object({
    expiryWarning: positiveDuration
      .prefault('30d')
      .describe(
        'policy.expiryWarning for tokens no credential owns: the health check reports an unmanaged token of a watched group or organization that expires within this',
      ),
    horizon: positiveDuration
      .prefault('90d')
      .describe('how far ahead the expiry gauges (rotator_tokens_expiring) count, week by week'),
    horizonCliff: z
      .int({ error: 'expected a whole number of tokens' })
      .positive('expected a whole number of tokens')
      .default(10)
      .describe(
        'more tokens than this expiring in one ISO week is an expiry cliff, flagged by `status --horizon`',
      ),
    watch: z
      .array(watchSchema)
      .default([])
      .describe(
        'the GitLab groups, GitHub organizations and repositories the health check and `status --horizon` look at',
      ),
  })
  .strict();

/** The watched entries name providers the inventory defines. */
export const discoveryRules = crossFieldRule((inventory, report) => {
  const root = (inventory ?? {}) as { providers?: Record<string, unknown>; discovery?: { watch?: unknown } };
  const watch = Array.isArray(root.discovery?.watch) ? (root.discovery.watch as unknown[]) : [];
  watch.forEach((entry, index) => {
    for (const kind of ['gitlab', 'github'] as const) {
      const name = (entry as Record<string, unknown> | null)?.[kind];
      const defined = Object.keys((root.providers?.[kind] as object | undefined) ?? {});
      if (typeof name === 'string' && !defined.includes(name))
        report(
          ['discovery', 'watch', index, kind],
          `expected the name of a provider under providers.${kind} ` +
            (defined.length === 0 ? '(none is defined)' : `(defined: ${defined.join(', ')})`),
        );
    }
  });
});

/**
 * Whether any string in `value` holds a placeholder: a walk that allocates nothing, run over every
 * credential of a fleet before the one that names each path.
 */
function holdsPlaceholder(value: unknown): boolean {
  if (typeof value === 'string') return value.includes(PLACEHOLDER);
  if (typeof value !== 'object' || value === null) return false;
  for (const key in value) if (holdsPlaceholder((value as Record<string, unknown>)[key])) return true;
  return false;
}

/** Every string of a credential that is still a placeholder of `discover --propose`, by its path. */
export const placeholderRule = crossFieldRule((credential, report) => {
  const visit = (value: unknown, path: PropertyKey[]): void => {
    if (typeof value === 'string' && value.includes(PLACEHOLDER))
      report(path, `is a placeholder \`rotator discover --propose\` left: fill it in (docs/discovery.md)`);
    else if (Array.isArray(value)) value.forEach((item, index) => visit(item, [...path, index]));
    else if (typeof value === 'object' && value !== null)
      for (const [key, item] of Object.entries(value)) visit(item, [...path, key]);
  };
  if (holdsPlaceholder(credential)) visit(credential, []);
});
