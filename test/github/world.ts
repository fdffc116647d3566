import { GitHubActionsSecrets } from '../../src/github/actions-secrets';
import { GitHubClient } from '../../src/github/client';
import type { ActionsSecretSpec } from '../../src/github/scopes';
import { GitHubRepositoryRuns } from '../../src/github/workflow-runs';
import { startGitHubSim, type GitHubSim } from '../sim/github/server';
import type { SimScope } from '../sim/github/state';

/**
 * A simulated GitHub with an organization `acme`, its repositories `acme/app` and `acme/api`, a `production`
 * environment in `acme/app`, and an admin token that reaches all of them.
 */
export async function githubWorld() {
  const sim: GitHubSim = await startGitHubSim();
  const { state } = sim;
  const org = state.addOrganization('acme');
  const app = state.addRepository('acme/app');
  const api = state.addRepository('acme/api');
  const production = state.addEnvironment(app, 'production');
  const adminToken = state.addToken();
  const connect = (token: string, fallbackToken?: string) =>
    new GitHubActionsSecrets(new GitHubClient({ url: sim.url, token, fallbackToken }));
  const secrets = connect(adminToken.value);
  return { sim, state, org, app, api, production, adminToken, connect, secrets };
}

export type GitHubWorld = Awaited<ReturnType<typeof githubWorld>>;

/** A secret at one level, the simulator scope that holds it, and the routes of that level. */
export interface LevelCase {
  level: string;
  spec: ActionsSecretSpec;
  scope: SimScope;
  /** The level's secrets route, such as `/repos/{owner}/{repo}/actions/secrets`. */
  base: string;
}

/** One secret of each level. */
export function secretsOf(world: GitHubWorld, name: string): LevelCase[] {
  return [
    {
      level: 'repository',
      spec: { scope: 'repository', owner: 'acme', repo: 'app', name },
      scope: world.app,
      base: '/repos/{owner}/{repo}/actions/secrets',
    },
    {
      level: 'environment',
      spec: { scope: 'environment', owner: 'acme', repo: 'app', environment: 'production', name },
      scope: world.production,
      base: '/repos/{owner}/{repo}/environments/{environment_name}/secrets',
    },
    {
      level: 'organization',
      spec: { scope: 'organization', org: 'acme', name, visibility: 'private', selectedRepositories: [] },
      scope: world.org,
      base: '/orgs/{org}/actions/secrets',
    },
  ];
}

/** The calls made while `body` ran, per `METHOD route`. */
export async function countCalls(
  sim: GitHubSim,
  body: () => Promise<unknown>,
): Promise<Record<string, number>> {
  sim.calls.length = 0;
  await body();
  return sim.callCounts();
}

/** The runs adapter with this token. */
export const runsAdapter = (url: string, token: string) =>
  new GitHubRepositoryRuns(new GitHubClient({ url, token }));
