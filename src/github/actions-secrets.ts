import { z } from 'zod';
import { ProviderError } from '../providers/errors';
import type { CredentialTarget, ExpectedValue, TargetCheck, TargetSnapshot } from '../providers/types';
import { parseAnswer, type GitHubClient } from './client';
import type { GitHubCallSite } from './errors';
import { sealFor } from './sealed-box';
import { describeSecret, scopeOf, type ActionsSecretSpec, type Sealed, type SecretAccess } from './scopes';

const publicKeySchema = z.object({ key_id: z.string().min(1), key: z.string().min(1) });
const secretSchema = z.object({ name: z.string(), updated_at: z.string() });
const orgSecretSchema = secretSchema.extend({ visibility: z.enum(['all', 'private', 'selected']) });
const repositorySchema = z.object({ id: z.number().int() });
const selectedPageSchema = z.object({
  total_count: z.number().int(),
  repositories: z.array(repositorySchema),
});

/** What a snapshot keeps: never the value (GitHub cannot return it), but who could use the secret. */
const attributesSchema = z.object({
  updatedAt: z.string(),
  visibility: z.enum(['all', 'private', 'selected']).optional(),
  /** Comma-separated repository ids, with visibility `selected`. */
  selectedRepositoryIds: z.string().optional(),
});

/** Who could use an organization secret before, as GitHub takes it back; nothing for other levels. */
function priorAccess(prior: z.output<typeof attributesSchema>): SecretAccess | undefined {
  if (prior.visibility === undefined) return undefined;
  if (prior.visibility !== 'selected') return { visibility: prior.visibility };
  const ids = (prior.selectedRepositoryIds ?? '').split(',').filter((id) => id !== '');
  return { visibility: 'selected', selected_repository_ids: ids.map(Number) };
}

const PER_PAGE = 100;

/** GitHub Actions secrets of a repository, a deployment environment or an organization, sealed for GitHub. */
export class GitHubActionsSecrets implements CredentialTarget<ActionsSecretSpec> {
  constructor(private readonly client: GitHubClient) {}

  private site(spec: ActionsSecretSpec, step: string): GitHubCallSite {
    return { step, resource: describeSecret(spec) };
  }

  async snapshot(spec: ActionsSecretSpec): Promise<TargetSnapshot> {
    const site = this.site(spec, 'snapshot');
    let answer: unknown;
    try {
      answer = await this.client.call(site, (api) => scopeOf(spec).get(api));
    } catch (error) {
      if (error instanceof ProviderError && error.kind === 'not-found') return { exists: false };
      throw error;
    }
    if (spec.scope !== 'organization') {
      return { exists: true, attributes: { updatedAt: parseAnswer(secretSchema, answer, site).updated_at } };
    }
    const secret = parseAnswer(orgSecretSchema, answer, site);
    const attributes = { updatedAt: secret.updated_at, visibility: secret.visibility };
    if (secret.visibility !== 'selected') return { exists: true, attributes };
    const ids = await this.selectedRepositoryIds(spec);
    return { exists: true, attributes: { ...attributes, selectedRepositoryIds: ids.join(',') } };
  }

  /**
   * GitHub never returns a value, so the secret counts as holding the current one when it was updated at or
   * after the current token was created: every write of that value, ours included, came after. A secret
   * still holding an older token was last updated before, which this finds; a wrong value written by hand
   * later cannot be told from ours. `updated_at` has whole seconds, so it counts to the end of its second.
   */
  async holds(spec: ActionsSecretSpec, { since }: ExpectedValue): Promise<TargetCheck> {
    const site = this.site(spec, 'check');
    let answer: unknown;
    try {
      answer = await this.client.call(site, (api) => scopeOf(spec).get(api));
    } catch (error) {
      if (error instanceof ProviderError && error.kind === 'not-found')
        return { state: 'drifted', detail: 'the secret does not exist' };
      throw error;
    }
    const updatedAt = parseAnswer(secretSchema, answer, site).updated_at;
    if (since === undefined)
      return {
        state: 'unverifiable',
        detail: `updated ${updatedAt}; when the current token was created is unknown`,
      };
    return Date.parse(updatedAt) + 1000 > Date.parse(since)
      ? { state: 'current', detail: `updated ${updatedAt}, after the current token was created (${since})` }
      : {
          state: 'drifted',
          detail: `last updated ${updatedAt}, before the current token was created (${since}): it holds an older value`,
        };
  }

  /** Seals the value for the scope's current key and puts it; an organization secret gets the spec's access. */
  async write(spec: ActionsSecretSpec, value: string): Promise<void> {
    const access: SecretAccess | undefined =
      spec.scope !== 'organization'
        ? undefined
        : spec.visibility === 'selected'
          ? { visibility: 'selected', selected_repository_ids: await this.repositoryIds(spec) }
          : { visibility: spec.visibility };
    await this.put(spec, value, access, 'write');
  }

  /**
   * Puts back what `snapshot` saw. GitHub never returns a value, so the previous one comes from Vault and is
   * sealed afresh; a secret that did not exist is deleted again.
   */
  async restore(
    spec: ActionsSecretSpec,
    snapshot: TargetSnapshot,
    previousValue: string | undefined,
  ): Promise<void> {
    if (!snapshot.exists) {
      const site = this.site(spec, 'restore (delete)');
      try {
        await this.client.call(site, (api) => scopeOf(spec).remove(api));
      } catch (error) {
        if (!(error instanceof ProviderError && error.kind === 'not-found')) throw error;
      }
      return;
    }
    const site = this.site(spec, 'restore');
    const prior = parseAnswer(attributesSchema, snapshot.attributes, { ...site, step: 'restore (snapshot)' });
    if (previousValue === undefined) {
      throw new ProviderError({
        provider: 'github',
        ...site,
        kind: 'permanent',
        reason: 'no previous value to restore',
      });
    }
    await this.put(spec, previousValue, priorAccess(prior), 'restore');
  }

  /**
   * GitHub answers 422 when the key a value was sealed for is no longer the scope's key (it was rotated
   * between fetch and put): fetch the key again and put once more, only if it did change.
   */
  private async put(
    spec: ActionsSecretSpec,
    value: string,
    access: SecretAccess | undefined,
    step: string,
  ): Promise<void> {
    const site = this.site(spec, `${step} (put)`);
    const first = await this.sealed(spec, value, step);
    try {
      await this.client.call(site, (api) => scopeOf(spec).put(api, first, access));
      return;
    } catch (error) {
      if (!(error instanceof ProviderError && error.status === 422)) throw error;
      const again = await this.sealed(spec, value, step);
      if (again.key_id === first.key_id) throw error;
      await this.client.call(site, (api) => scopeOf(spec).put(api, again, access));
    }
  }

  private async sealed(spec: ActionsSecretSpec, value: string, step: string): Promise<Sealed> {
    const site = this.site(spec, `${step} (public key)`);
    const key = parseAnswer(
      publicKeySchema,
      await this.client.call(site, (api) => scopeOf(spec).publicKey(api)),
      site,
    );
    const encrypted = await sealFor(key.key, value);
    if (encrypted === undefined) {
      throw new ProviderError({
        provider: 'github',
        ...site,
        kind: 'permanent',
        reason: `public key ${key.key_id} is not a base64 X25519 key`,
      });
    }
    return { encrypted_value: encrypted, key_id: key.key_id };
  }

  /** The ids of the repositories the spec names: GitHub takes ids, operators write names. */
  private async repositoryIds(
    spec: Extract<ActionsSecretSpec, { scope: 'organization' }>,
  ): Promise<number[]> {
    const ids: number[] = [];
    for (const repo of spec.selectedRepositories) {
      const site = { step: 'write (repository id)', resource: `repository ${spec.org}/${repo}` };
      const answer = await this.client.call(
        site,
        async (api) => (await api.rest.repos.get({ owner: spec.org, repo })).data,
      );
      ids.push(parseAnswer(repositorySchema, answer, site).id);
    }
    return ids;
  }

  private async selectedRepositoryIds(
    spec: Extract<ActionsSecretSpec, { scope: 'organization' }>,
  ): Promise<number[]> {
    const site = this.site(spec, 'snapshot (selected repositories)');
    const ids: number[] = [];
    for (let page = 1; ; page += 1) {
      const answer = await this.client.call(site, async (api) => {
        const request = { org: spec.org, secret_name: spec.name, per_page: PER_PAGE, page };
        return (await api.rest.actions.listSelectedReposForOrgSecret(request)).data;
      });
      const { total_count, repositories } = parseAnswer(selectedPageSchema, answer, site);
      ids.push(...repositories.map((repository) => repository.id));
      if (repositories.length < PER_PAGE || ids.length >= total_count) return ids;
    }
  }
}
