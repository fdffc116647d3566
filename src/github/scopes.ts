import type { GitHubApi } from './client';

// https://docs.github.com/rest/actions/secrets: the same four calls at each of the three levels.

export type SecretVisibility = 'all' | 'private' | 'selected';

export type ActionsSecretSpec =
  | { scope: 'repository'; owner: string; repo: string; name: string }
  | { scope: 'environment'; owner: string; repo: string; environment: string; name: string }
  | {
      scope: 'organization';
      org: string;
      name: string;
      visibility: SecretVisibility;
      /** Repository names in the organization, with visibility `selected`. */
      selectedRepositories: string[];
    };

/** Who may use an organization secret; repository and environment secrets have no such setting. */
export interface SecretAccess {
  visibility: SecretVisibility;
  selected_repository_ids?: number[];
}

export interface Sealed {
  encrypted_value: string;
  key_id: string;
}

/** The calls of one secret's level, each answering GitHub's JSON (or nothing, for PUT and DELETE). */
export interface SecretScope {
  publicKey(api: GitHubApi): Promise<unknown>;
  get(api: GitHubApi): Promise<unknown>;
  put(api: GitHubApi, sealed: Sealed, access: SecretAccess | undefined): Promise<unknown>;
  remove(api: GitHubApi): Promise<unknown>;
}

/** The name operators know the secret by, such as `repository acme/app environment production secret X`. */
export function describeSecret(spec: ActionsSecretSpec): string {
  if (spec.scope === 'organization') return `organization ${spec.org} secret ${spec.name}`;
  const repository = `repository ${spec.owner}/${spec.repo}`;
  return spec.scope === 'environment'
    ? `${repository} environment ${spec.environment} secret ${spec.name}`
    : `${repository} secret ${spec.name}`;
}

export function scopeOf(spec: ActionsSecretSpec): SecretScope {
  const secret_name = spec.name;
  const data = async (answer: Promise<{ data: unknown }>) => (await answer).data;
  switch (spec.scope) {
    case 'repository': {
      const { owner, repo } = spec;
      return {
        publicKey: (api) => data(api.rest.actions.getRepoPublicKey({ owner, repo })),
        get: (api) => data(api.rest.actions.getRepoSecret({ owner, repo, secret_name })),
        put: (api, sealed) =>
          data(api.rest.actions.createOrUpdateRepoSecret({ owner, repo, secret_name, ...sealed })),
        remove: (api) => data(api.rest.actions.deleteRepoSecret({ owner, repo, secret_name })),
      };
    }
    case 'environment': {
      const { owner, repo, environment: environment_name } = spec;
      const at = { owner, repo, environment_name, secret_name };
      return {
        publicKey: (api) => data(api.rest.actions.getEnvironmentPublicKey({ owner, repo, environment_name })),
        get: (api) => data(api.rest.actions.getEnvironmentSecret(at)),
        put: (api, sealed) => data(api.rest.actions.createOrUpdateEnvironmentSecret({ ...at, ...sealed })),
        remove: (api) => data(api.rest.actions.deleteEnvironmentSecret(at)),
      };
    }
    case 'organization': {
      const { org } = spec;
      return {
        publicKey: (api) => data(api.rest.actions.getOrgPublicKey({ org })),
        get: (api) => data(api.rest.actions.getOrgSecret({ org, secret_name })),
        put: (api, sealed, access) =>
          data(
            api.rest.actions.createOrUpdateOrgSecret({
              org,
              secret_name,
              ...sealed,
              ...(access ?? { visibility: spec.visibility }),
            }),
          ),
        remove: (api) => data(api.rest.actions.deleteOrgSecret({ org, secret_name })),
      };
    }
  }
}
