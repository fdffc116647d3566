import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Found } from '../../src/discovery';
import { FINE_GRAINED_NOT_LISTED } from '../../src/discovery/github';
import { PLACEHOLDER } from '../../src/inventory/discovery';
import { answerMismatches, loadGitHubDescription } from '../github/openapi';
import { discoveryWorld, pages, type DiscoveryWorld } from './world';

let world: DiscoveryWorld;

beforeAll(async () => {
  world = await discoveryWorld();
  const { state } = world.github;
  const org = state.addOrganization('acme');
  for (let s = 0; s < 120; s += 1) state.setSecret(org, `ORG_SETTING_${s}`, 'v', { visibility: 'all' });
  state.setSecret(org, 'NPM_TOKEN', 'v', { visibility: 'private' });
  // 150 repositories (two pages) with two secrets each, and one with 130 (two pages).
  for (let r = 0; r < 150; r += 1) {
    const repository = state.addRepository(`acme/app-${r}`);
    state.setSecret(repository, 'DEPLOY_TOKEN', 'v');
    state.setSecret(repository, 'SENTRY_DSN', 'v');
  }
  const big = state.addRepository('acme/monorepo');
  for (let s = 0; s < 130; s += 1) state.setSecret(big, `KEY_${s}`, 'v');
  state.setSecret(state.addRepository('other/elsewhere'), 'OTHER_TOKEN', 'v');
  world.writeInventory([
    world.credential(
      'app-0-deploy',
      {
        kind: 'gitlab-project-access-token',
        gitlab: 'gitlab-sim',
        project: 'platform/app',
        tokenName: 'deploy',
        scopes: ['api'],
        accessLevel: 'maintainer',
        lifetimeDays: 30,
      },
      [
        {
          kind: 'github-actions-secret',
          github: 'github-sim',
          repository: 'acme/app-0',
          name: 'deploy_token',
        },
        {
          kind: 'github-actions-secret',
          github: 'github-sim',
          organization: 'acme',
          visibility: 'private',
          name: 'NPM_TOKEN',
        },
      ],
    ),
  ]);
});

afterAll(async () => {
  await world?.close();
});

async function discoverJson(...target: string[]) {
  const { code, stdout, stderr } = await world.cli([
    'discover',
    '--github',
    'github-sim',
    ...target,
    '--json',
  ]);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(stdout) as { unmanaged: Found[]; managed: Found[]; notListed: string[] };
}

describe('rotator discover --github', () => {
  it('lists every secret of the organization and its repositories but those the inventory writes, a call per page', async () => {
    world.github.calls.length = 0;
    const { unmanaged, managed, notListed } = await discoverJson('--org', 'acme');
    expect(managed.map((f) => [f.name, f.managedBy])).toEqual([
      ['NPM_TOKEN', 'app-0-deploy'],
      ['DEPLOY_TOKEN', 'app-0-deploy'],
    ]);
    expect(unmanaged).toHaveLength(120 + 150 * 2 - 1 + 130);
    expect(unmanaged.some((f) => f.name === 'OTHER_TOKEN')).toBe(false);
    expect(unmanaged.find((f) => f.name === 'DEPLOY_TOKEN')).toMatchObject({
      kind: 'github-actions-secret',
      owner: { scope: 'repository', repository: 'acme/app-100' },
      looksLikeToken: 'key contains TOKEN',
    });
    expect(unmanaged.find((f) => f.name === 'SENTRY_DSN')?.looksLikeToken).toBeUndefined();
    expect(notListed).toEqual([FINE_GRAINED_NOT_LISTED]);

    const counts = world.github.callCounts();
    expect(counts).toEqual({
      'GET /orgs/{org}/repos': pages(151),
      'GET /orgs/{org}/actions/secrets': pages(121),
      'GET /repos/{owner}/{repo}/actions/secrets': 150 + pages(130),
    });
    expect(answerMismatches(loadGitHubDescription(), world.github.calls)).toEqual([]);
  });

  it('lists one repository with --repo', async () => {
    const { unmanaged } = await discoverJson('--repo', 'acme/monorepo');
    expect(unmanaged).toHaveLength(130);
    expect(new Set(unmanaged.map((f) => JSON.stringify(f.owner)))).toEqual(
      new Set([JSON.stringify({ scope: 'repository', repository: 'acme/monorepo' })]),
    );
  });

  it('drafts an organization secret as a target whose source a person fills', async () => {
    const { unmanaged } = await discoverJson('--org', 'acme');
    const row = unmanaged.findIndex((f) => f.name === 'ORG_SETTING_3') + 1;
    const file = `${world.dir}/github-draft.yaml`;
    const { code } = await world.cli([
      'discover',
      '--github',
      'github-sim',
      '--org',
      'acme',
      '--propose',
      file,
      '--select',
      String(row),
    ]);
    expect(code).toBe(0);
    const draft = parse(readFileSync(file, 'utf8')) as { credentials: unknown[] };
    expect(draft.credentials).toEqual([
      expect.objectContaining({
        source: PLACEHOLDER,
        targets: [
          {
            kind: 'github-actions-secret',
            github: 'github-sim',
            organization: 'acme',
            visibility: 'all',
            name: 'ORG_SETTING_3',
          },
        ],
      }),
    ]);
  });
});
