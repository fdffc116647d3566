import { loadInventory } from '../../src/inventory/load';

/**
 * Loads an inventory of one credential, a GitLab project token with one project CI variable, with `fields`
 * over its own (and `source` over its source's) and `blocks` beside `providers` and `credentials` (such as
 * `discovery`): for tests of what the inventory accepts and refuses.
 */
export function oneCredentialInventory(fields: object, source: object = {}, blocks: object = {}) {
  return loadInventory(
    JSON.stringify({
      providers: {
        gitlab: {
          sim: { url: 'https://gitlab.example.com', credential: { mount: 'kv', path: 'a', key: 't' } },
        },
      },
      credentials: [
        {
          id: 'only',
          description: 'd',
          environment: 'test',
          owner: 'o',
          source: {
            kind: 'gitlab-project-access-token',
            gitlab: 'sim',
            project: 'platform/app',
            tokenName: 'ci',
            scopes: ['read_api'],
            accessLevel: 'developer',
            lifetimeDays: 30,
            ...source,
          },
          vault: { mount: 'kv', path: 'only' },
          targets: [{ kind: 'gitlab-ci-variable', gitlab: 'sim', project: 'platform/app', key: 'T' }],
          ...fields,
        },
      ],
      ...blocks,
    }),
  );
}
