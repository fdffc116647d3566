import { GitLabClient } from '../../src/gitlab/client';
import { startGitLabSim, type GitLabSim } from '../sim/gitlab/server';

/** A simulated GitLab with an administrator, a maintainer, a project and a group, and clients for both. */
export async function gitlabWorld() {
  const sim: GitLabSim = await startGitLabSim();
  const { state } = sim;
  const root = state.addUser({ username: 'root', admin: true });
  const adminToken = state.addToken({
    userId: root.id,
    name: 'rotator-admin',
    scopes: ['api'],
    expiresAt: null,
  });
  const maintainer = state.addUser({ username: 'maintainer' });
  const maintainerToken = state.addToken({
    userId: maintainer.id,
    name: 'ops',
    scopes: ['api'],
    expiresAt: null,
  });
  const project = state.addProject('platform/deployer', { [maintainer.id]: 40 });
  const group = state.addGroup('platform', { [maintainer.id]: 50 });
  const admin = new GitLabClient({ url: sim.url, token: adminToken.value });
  return { sim, state, root, adminToken, maintainer, maintainerToken, project, group, admin };
}

export type GitLabWorld = Awaited<ReturnType<typeof gitlabWorld>>;

/** The calls made while `body` ran, per `METHOD route`. */
export async function countCalls(
  sim: GitLabSim,
  body: () => Promise<unknown>,
): Promise<Record<string, number>> {
  sim.calls.length = 0;
  await body();
  return sim.callCounts();
}

/** The value, failing the test when it is missing. */
export function defined<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value, found none');
  return value;
}
