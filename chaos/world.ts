import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { VaultKvStore } from '../src/vault';
import { githubWorld } from '../test/github/world';
import { gitlabWorld } from '../test/gitlab/world';
import { TEST_KV_MOUNT } from '../test/infra/test-servers';

/** The mixes the chaos run cycles through, so that every source, strategy and target kind is under fire. */
export const CREDENTIAL_MIXES = [
  'project token, create then revoke, 2s overlap, CI variable and repository secret, schedules paused',
  'group token rotated in place, group CI variable and environment secret',
  'personal token, create then revoke, repository secret',
  'project token, create then revoke, no overlap, two CI variables',
] as const;

/**
 * Both simulators with `count` credentials live (the token current in Vault and in every target), and the
 * inventory naming them, which every worker of the run reads.
 */
export async function chaosWorld(vault: VaultKvStore, count: number, runId: string) {
  const gitlab = await gitlabWorld();
  const github = await githubWorld();
  const dir = mkdtempSync(join(tmpdir(), 'rotator-chaos-'));
  const base = `chaos/${runId}`;
  const admins = { mount: TEST_KV_MOUNT, path: `${base}/admins` };
  await vault.write(admins, { gitlab: gitlab.adminToken.value, github: github.adminToken.value });
  const providers = {
    gitlab: { sim: { url: gitlab.sim.url, credential: { ...admins, key: 'gitlab' } } },
    github: { 'gh-sim': { apiUrl: github.sim.url, credential: { ...admins, key: 'github' } } },
  };
  const project = gitlab.project.path;
  const repository = 'acme/app';
  const credentials: Record<string, unknown>[] = [];

  for (let index = 0; index < count; index += 1) {
    const id = `chaos-${index}`;
    const key = id.toUpperCase().replace(/-/g, '_');
    const mix = index % CREDENTIAL_MIXES.length;
    const common = {
      id,
      description: CREDENTIAL_MIXES[mix],
      environment: 'chaos',
      owner: 'team-chaos',
      vault: { mount: TEST_KV_MOUNT, path: `${base}/${id}` },
    };
    const projectVariable = (suffix: string) => ({
      kind: 'gitlab-ci-variable',
      gitlab: 'sim',
      project,
      key: `${key}_${suffix}`,
    });
    const repositorySecret = { kind: 'github-actions-secret', github: 'gh-sim', repository, name: key };
    let token;
    if (mix === 1) {
      token = gitlab.state.addResourceToken(gitlab.group, 'group', {
        name: `${id}-ci`,
        scopes: ['read_api'],
        expiresAt: '2099-12-31',
        accessLevel: 30,
      });
      credentials.push({
        ...common,
        source: {
          kind: 'gitlab-group-access-token',
          gitlab: 'sim',
          group: gitlab.group.path,
          tokenName: `${id}-ci`,
          scopes: ['read_api'],
          accessLevel: 'developer',
          lifetimeDays: 30,
          strategy: 'rotate-in-place',
        },
        targets: [
          { kind: 'gitlab-ci-variable', gitlab: 'sim', group: gitlab.group.path, key: `${key}_G` },
          { ...repositorySecret, environment: 'production' },
        ],
        policy: { every: '7d', overlap: '0s' },
      });
      gitlab.state.addVariable(gitlab.group, { key: `${key}_G`, value: token.value, masked: true });
      github.state.setSecret(github.production, key, token.value);
    } else if (mix === 2) {
      token = gitlab.state.addToken({
        userId: gitlab.maintainer.id,
        name: `${id}-ci`,
        scopes: ['read_api'],
        expiresAt: '2099-12-31',
      });
      credentials.push({
        ...common,
        source: {
          kind: 'gitlab-personal-access-token',
          gitlab: 'sim',
          user: gitlab.maintainer.id,
          tokenName: `${id}-ci`,
          scopes: ['read_api'],
          lifetimeDays: 30,
        },
        targets: [repositorySecret],
        policy: { every: '7d', overlap: '0s' },
      });
      github.state.setSecret(github.app, key, token.value);
    } else {
      token = gitlab.state.addResourceToken(gitlab.project, 'project', {
        name: `${id}-ci`,
        scopes: ['read_api'],
        expiresAt: '2099-12-31',
        accessLevel: 30,
      });
      const targets =
        mix === 0 ? [projectVariable('P'), repositorySecret] : [projectVariable('P'), projectVariable('Q')];
      credentials.push({
        ...common,
        source: {
          kind: 'gitlab-project-access-token',
          gitlab: 'sim',
          project,
          tokenName: `${id}-ci`,
          scopes: ['read_api'],
          accessLevel: 'developer',
          lifetimeDays: 30,
        },
        targets,
        ...(mix === 0 ? { dependents: [{ kind: 'gitlab-pipeline-schedules', gitlab: 'sim', project }] } : {}),
        policy: { every: '7d', overlap: mix === 0 ? '2s' : '0s' },
      });
      gitlab.state.addVariable(gitlab.project, { key: `${key}_P`, value: token.value, masked: true });
      if (mix === 0) github.state.setSecret(github.app, key, token.value);
      else gitlab.state.addVariable(gitlab.project, { key: `${key}_Q`, value: token.value, masked: true });
    }
    await vault.write(common.vault, {
      token: token.value,
      tokenId: String(token.id),
      expiresAt: '2099-12-31',
    });
  }
  gitlab.state.addSchedule(gitlab.project, {
    description: 'nightly',
    active: true,
    ownerId: gitlab.maintainer.id,
  });

  const inventoryPath = join(dir, 'rotator.yaml');
  writeFileSync(inventoryPath, stringify({ providers, credentials }));
  return {
    gitlab,
    github,
    dir,
    inventoryPath,
    ids: credentials.map(({ id }) => String(id)),
    close: async () => {
      await gitlab.sim.close();
      await github.sim.close();
    },
  };
}

export type ChaosWorld = Awaited<ReturnType<typeof chaosWorld>>;
