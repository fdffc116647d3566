import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { VaultKvStore } from '../src/vault';
import { githubWorld } from '../test/github/world';
import { gitlabWorld } from '../test/gitlab/world';
import { httpRelay } from '../test/helpers/http-relay';
import { recordMintedValue } from '../test/infra/secret-scan';
import { TEST_KV_MOUNT } from '../test/infra/test-servers';
import { firstGrant } from '../test/oauth2/credential';
import { startAuthorizationServer } from '../test/oauth2/server';
import { Chaos } from '../test/sim/chaos';

/** The mixes the chaos run cycles through, so that every source, strategy and target kind is under fire. */
export const CREDENTIAL_MIXES = [
  'project token, create then revoke, 2s overlap, CI variable and repository secret, schedules paused',
  'group token rotated in place, group CI variable and environment secret',
  'personal token, create then revoke, repository secret',
  'project token, create then revoke, no overlap, two CI variables',
  'OAuth2 refresh token rotated by the refresh grant, CI variable and repository secret',
] as const;

/** Every fourth credential is rotated by its Temporal Schedule during the load, not by hand. */
export const isScheduled = (index: number) => index % 4 === 3;

/** The region the share of credentials kept in AWS Secrets Manager names. */
const AWS_REGION = 'eu-west-1';

/**
 * Where the share of credentials kept in AWS Secrets Manager (`--aws-share`, a percentage) is: `endpoint`
 * (the run's relay in front of moto) and a client that seeds their secrets there.
 */
export interface AwsShare {
  percent: number;
  endpoint: string;
  client: SecretsManagerClient;
}

/**
 * Whether the `nth` credential that is not an OAuth2 one (whose first grant the test helper keeps in Vault)
 * is kept in Secrets Manager: `percent` of them, spread evenly over the other mixes.
 */
const onAws = (nth: number, percent: number) =>
  Math.floor(((nth + 1) * percent) / 100) > Math.floor((nth * percent) / 100);

/**
 * Both simulators and the OAuth2 authorization server with `count` credentials live (the token current in
 * Vault and in every target), and the inventory naming them, which every worker of the run reads. The
 * scheduled share (`isScheduled`) rotates every `scheduledEvery`, the others every 7 days.
 */
export async function chaosWorld(
  vault: VaultKvStore,
  count: number,
  runId: string,
  scheduledEvery: string,
  aws?: AwsShare,
) {
  const gitlab = await gitlabWorld();
  const github = await githubWorld();
  const oauth2 = await startAuthorizationServer();
  // Every token the authorization server issues, seen in its answers: the simulators' minted-values file
  // does not hold them, and the run searches for them too.
  const oauth2Values = new Set<string>();
  const keep = (value: unknown) => {
    if (typeof value !== 'string' || value === '' || oauth2Values.has(value)) return;
    oauth2Values.add(value);
    recordMintedValue(value);
  };
  const oauth2Chaos = new Chaos();
  const oauth2Relay = await httpRelay(oauth2.url, {
    chaos: oauth2Chaos,
    onAnswer: (body) => {
      try {
        const answer = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        keep(answer.access_token);
        keep(answer.refresh_token);
        keep(answer.id_token);
      } catch {
        // Not JSON (an error page): it carries no token.
      }
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'rotator-chaos-'));
  const base = `chaos/${runId}`;
  const admins = { mount: TEST_KV_MOUNT, path: `${base}/admins` };
  await vault.write(admins, { gitlab: gitlab.adminToken.value, github: github.adminToken.value });
  const clientSecret = { mount: TEST_KV_MOUNT, path: `${base}/oauth2-client` };
  await vault.write(clientSecret, { secret: oauth2.clientSecret });
  const providers = {
    gitlab: { sim: { url: gitlab.sim.url, credential: { ...admins, key: 'gitlab' } } },
    github: { 'gh-sim': { apiUrl: github.sim.url, credential: { ...admins, key: 'github' } } },
  };
  const project = gitlab.project.path;
  const repository = 'acme/app';
  const credentials: Record<string, unknown>[] = [];
  /** Where the OAuth2 credentials live in Vault, for the values they hold at the end of the run. */
  const oauth2Vaults: { mount: string; path: string }[] = [];
  /** The credentials kept in Secrets Manager, each by its id. */
  const awsIds: string[] = [];
  let notOAuth2 = 0;

  for (let index = 0; index < count; index += 1) {
    const id = `chaos-${index}`;
    const key = id.toUpperCase().replace(/-/g, '_');
    const mix = index % CREDENTIAL_MIXES.length;
    const common = {
      id,
      description: CREDENTIAL_MIXES[mix],
      environment: 'chaos',
      owner: 'team-chaos',
    };
    const vaultAt = { mount: TEST_KV_MOUNT, path: `${base}/${id}` };
    const projectVariable = (suffix: string) => ({
      kind: 'gitlab-ci-variable',
      gitlab: 'sim',
      project,
      key: `${key}_${suffix}`,
    });
    const repositorySecret = { kind: 'github-actions-secret', github: 'gh-sim', repository, name: key };
    const every = isScheduled(index) ? scheduledEvery : '7d';
    const secretId = `${base}/${id}`;
    const kept =
      mix !== 4 && aws !== undefined && onAws(notOAuth2, aws.percent)
        ? {
            store: { kind: 'aws-secrets-manager', region: AWS_REGION, secretId, endpoint: aws.endpoint },
          }
        : { vault: vaultAt };
    if (mix !== 4) notOAuth2 += 1;
    if ('store' in kept) awsIds.push(id);
    if (mix === 4) {
      const { accessToken, refreshToken } = await firstGrant(oauth2, vault, vaultAt);
      keep(accessToken);
      keep(refreshToken);
      oauth2Vaults.push(vaultAt);
      credentials.push({
        ...common,
        vault: vaultAt,
        source: {
          kind: 'oauth2-refresh-token',
          tokenUrl: `${oauth2Relay.url}/token`,
          clientId: oauth2.clientId,
          clientSecret: { ...clientSecret, key: 'secret' },
          introspectionUrl: `${oauth2Relay.url}/token/introspection`,
          revocationUrl: `${oauth2Relay.url}/token/revocation`,
        },
        targets: [projectVariable('AT'), repositorySecret],
        policy: { every, overlap: '0s' },
      });
      gitlab.state.addVariable(gitlab.project, { key: `${key}_AT`, value: accessToken, masked: true });
      github.state.setSecret(github.app, key, accessToken);
      continue;
    }
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
        ...kept,
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
        policy: { every, overlap: '0s' },
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
        ...kept,
        source: {
          kind: 'gitlab-personal-access-token',
          gitlab: 'sim',
          user: gitlab.maintainer.id,
          tokenName: `${id}-ci`,
          scopes: ['read_api'],
          lifetimeDays: 30,
        },
        targets: [repositorySecret],
        policy: { every, overlap: '0s' },
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
        ...kept,
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
        policy: { every, overlap: mix === 0 ? '2s' : '0s' },
      });
      gitlab.state.addVariable(gitlab.project, { key: `${key}_P`, value: token.value, masked: true });
      if (mix === 0) github.state.setSecret(github.app, key, token.value);
      else gitlab.state.addVariable(gitlab.project, { key: `${key}_Q`, value: token.value, masked: true });
    }
    const first = { token: token.value, tokenId: String(token.id), expiresAt: '2099-12-31' };
    if (aws !== undefined && 'store' in kept)
      await aws.client.send(new CreateSecretCommand({ Name: secretId, SecretString: JSON.stringify(first) }));
    else await vault.write(vaultAt, first);
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
    oauth2: {
      server: oauth2,
      relay: oauth2Relay,
      chaos: oauth2Chaos,
      values: oauth2Values,
      vaults: oauth2Vaults,
    },
    dir,
    inventoryPath,
    ids: credentials.map(({ id }) => String(id)),
    awsIds,
    scheduledIds: credentials.map(({ id }) => String(id)).filter((_, index) => isScheduled(index)),
    close: async () => {
      await gitlab.sim.close();
      await github.sim.close();
      await oauth2Relay.close();
      await oauth2.close();
    },
  };
}

export type ChaosWorld = Awaited<ReturnType<typeof chaosWorld>>;
