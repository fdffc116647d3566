import { githubProviders } from '../github';
import { gitlabProviders } from '../gitlab';
import { oauth2Providers } from '../oauth2';
import type { ProviderRegistry } from './registry';

/** Every provider's adapters in one registry; adding a provider is one more entry in this list. */
const registries: ProviderRegistry[] = [gitlabProviders, githubProviders, oauth2Providers];

export const allProviders: ProviderRegistry = {
  sources: Object.assign({}, ...registries.map((registry) => registry.sources)),
  targets: Object.assign({}, ...registries.map((registry) => registry.targets)),
  dependents: Object.assign({}, ...registries.map((registry) => registry.dependents)),
  specs: Object.assign({}, ...registries.map((registry) => registry.specs)),
};
