import { z } from 'zod';
import { storedFieldEntrySchema } from '../stores';
import { serverUrl, slug } from './fields';

/** The admin credential the worker calls a provider with, read from its store by reference. */
const adminCredentials = {
  credential: storedFieldEntrySchema.describe(
    'field holding the admin token the worker uses: in Vault (mount, path, key) or another store (store, key)',
  ),
  fallbackCredential: storedFieldEntrySchema
    .optional()
    .describe('field holding a second admin token, used when the first is refused (HTTP 401)'),
};

const gitlabProviderSchema = z
  .object({ url: serverUrl.describe('GitLab base URL, e.g. https://gitlab.com'), ...adminCredentials })
  .strict();

const githubProviderSchema = z
  .object({
    apiUrl: serverUrl
      .default('https://api.github.com')
      .describe('GitHub REST API URL; for GitHub Enterprise Server, https://HOST/api/v3'),
    ...adminCredentials,
  })
  .strict();

const providerName = slug('gitlab-com');

/**
 * The systems the worker talks to, by kind, then by the name sources and targets use for them. A source
 * or target names its provider in a field called after the kind (`gitlab: gitlab-com`), so adding a
 * provider kind is one entry here and the reference check in rules.ts covers it unchanged.
 */
export const providerKindsSchema = z
  .object({
    gitlab: z.record(providerName, gitlabProviderSchema).default({}).describe('GitLab instances, by name'),
    github: z.record(providerName, githubProviderSchema).default({}).describe('GitHub instances, by name'),
  })
  .strict();

export type ProviderKind = keyof typeof providerKindsSchema.shape;
export const PROVIDER_KINDS = Object.keys(providerKindsSchema.shape) as ProviderKind[];

/** The field a source, target or dependent names its provider in: `gitlab: gitlab-com`. */
export function providerReference(kind: ProviderKind) {
  return providerName.describe(`name of a provider under providers.${kind}`);
}

/**
 * Providers whose admin token the rotator cannot rotate, each as a note for `config check` and `health`:
 * GitHub has no API that mints a personal access token, classic or fine-grained (docs/providers/github.md,
 * "What the rotator cannot rotate"). A warning, not an error: the operator rotates it by hand.
 */
export function unrotatableAdminTokenNotes(inventory: {
  providers: { github: Record<string, unknown> };
}): string[] {
  return Object.keys(inventory.providers.github).map(
    (name) =>
      `providers.github.${name}: its admin token cannot be rotated by the rotator (GitHub has no API to mint a ` +
      'personal access token, classic or fine-grained): rotate it by hand before it expires, with ' +
      'fallbackCredential set while you do (docs/providers/github.md)',
  );
}
