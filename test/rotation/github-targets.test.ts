import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { VaultKvStore } from '../../src/vault';
import { statusQuery } from '../../workflows';
import { githubWorld, type GitHubWorld } from '../github/world';
import { defined, gitlabWorld, type GitLabWorld } from '../gitlab/world';
import { auditEntries } from '../helpers/audit';
import { inventoryWorker } from '../helpers/inventory-worker';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import type { SimToken } from '../sim/gitlab/state';

/**
 * A GitLab token whose targets are a GitLab CI variable and two GitHub Actions secrets (a repository's and a
 * deployment environment's), rotated on the real Temporal and Vault servers with both simulators.
 */

const vault = new VaultKvStore(testServers().vault);
const base = `rotation/${randomUUID()}`;
const prefix = `t${randomUUID().slice(0, 6)}`;
const bench = inventoryWorker('github-targets', vault);
let gitlab: GitLabWorld;
let github: GitHubWorld;

interface Seeded {
  id: string;
  old: SimToken;
  key: string;
}
const seeded: Record<string, Seeded> = {};
const credentials: object[] = [];

const REPOSITORY_SECRET_ROUTE = '/repos/{owner}/{repo}/actions/secrets/{secret_name}';
const ENVIRONMENT_SECRET_ROUTE =
  '/repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}';

/** A live project token, current in Vault and in all three targets. */
async function seed(name: string): Promise<void> {
  const id = `${prefix}-${name}`;
  const old = gitlab.state.addResourceToken(gitlab.project, 'project', {
    name: `${id}-ci`,
    scopes: ['read_api'],
    expiresAt: '2099-12-31',
    accessLevel: 30,
  });
  const vaultPath = { mount: TEST_KV_MOUNT, path: `${base}/${name}` };
  await vault.write(vaultPath, { token: old.value, tokenId: String(old.id), expiresAt: '2099-12-31' });
  const key = id.toUpperCase().replace(/-/g, '_');
  gitlab.state.addVariable(gitlab.project, { key, value: old.value, masked: true });
  github.state.setSecret(github.app, key, old.value);
  github.state.setSecret(github.production, key, old.value);
  credentials.push({
    id,
    description: `GitLab token used by GitLab CI and GitHub Actions (${name})`,
    environment: 'test',
    owner: 'team-test',
    source: {
      kind: 'gitlab-project-access-token',
      gitlab: 'sim',
      project: gitlab.project.path,
      accessLevel: 'developer',
      tokenName: old.name,
      scopes: ['read_api'],
      lifetimeDays: 30,
    },
    vault: vaultPath,
    targets: [
      { kind: 'gitlab-ci-variable', gitlab: 'sim', project: gitlab.project.path, key },
      { kind: 'github-actions-secret', github: 'gh-sim', repository: 'acme/app', name: key },
      {
        kind: 'github-actions-secret',
        github: 'gh-sim',
        repository: 'acme/app',
        environment: 'production',
        name: key,
      },
    ],
    policy: { every: '7d', overlap: '0s' },
  });
  seeded[name] = { id, old, key };
}

beforeAll(async () => {
  gitlab = await gitlabWorld();
  github = await githubWorld();
  const admins = { mount: TEST_KV_MOUNT, path: `${base}/admins` };
  await vault.write(admins, { gitlab: gitlab.adminToken.value, github: github.adminToken.value });
  await seed('rotated');
  await seed('rollback');
  await bench.start({
    providers: {
      gitlab: { sim: { url: gitlab.sim.url, credential: { ...admins, key: 'gitlab' } } },
      github: { 'gh-sim': { apiUrl: github.sim.url, credential: { ...admins, key: 'github' } } },
    },
    credentials,
  });
});

afterAll(async () => {
  await bench.stop();
  await gitlab?.sim.close();
  await github?.sim.close();
});

const start = (name: string) => bench.rotate(defined(seeded[name]).id);

/** What each target holds now: the GitLab variable's value and the plaintext the GitHub simulator decrypted. */
const targetValues = ({ key }: Seeded) => [
  defined(gitlab.project.variables.find((variable) => variable.key === key)).value,
  github.state.plaintext(github.app, key),
  github.state.plaintext(github.production, key),
];
const newTokens = ({ old }: Seeded) =>
  gitlab.state.tokensNamed(old.name).filter((token) => token.id !== old.id);

describe('a GitLab token distributed to GitLab CI and GitHub Actions, on the real Temporal and Vault', () => {
  it('rotates: every target, GitHub secrets included, holds Vault’s current version', async () => {
    const credential = defined(seeded.rotated);
    github.sim.calls.length = 0;
    const result = await (await start('rotated')).result();

    expect(result).toMatchObject({ outcome: 'rotated', versions: { current: 2, previous: 1 } });
    const current = await vault.read({ mount: TEST_KV_MOUNT, path: `${base}/rotated` });
    expect(current.ref.version).toBe(2);
    const fresh = defined(newTokens(credential)[0]);
    expect(current.data).toMatchObject({ token: fresh.value, tokenId: String(fresh.id) });
    expect(targetValues(credential)).toEqual([current.data.token, current.data.token, current.data.token]);
    expect(gitlab.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    expect(result.targets).toEqual([
      { name: expect.stringContaining(`CI variable ${credential.key}`), state: 'written' },
      { name: `repository acme/app secret ${credential.key}`, state: 'written' },
      { name: `repository acme/app environment production secret ${credential.key}`, state: 'written' },
    ]);
    // Per secret: the snapshot's GET, then the public key and the PUT.
    const secretCalls = (route: string) => ({
      [`GET ${route}/public-key`]: 1,
      [`GET ${route}/{secret_name}`]: 1,
      [`PUT ${route}/{secret_name}`]: 1,
    });
    expect(github.sim.callCounts()).toEqual({
      ...secretCalls('/repos/{owner}/{repo}/actions/secrets'),
      ...secretCalls('/repos/{owner}/{repo}/environments/{environment_name}/secrets'),
    });
    const distributed = auditEntries(bench.auditLog).filter(
      (entry) => entry.credentialId === credential.id && entry.event === 'distributed',
    );
    expect(distributed.map((entry) => entry.resource).sort()).toEqual(
      result.targets.map((target) => target.name).sort(),
    );
  });

  it('rolls back the GitHub repository secret and the GitLab variable when the environment secret is refused', async () => {
    const credential = defined(seeded.rollback);
    // What the repository secret held right after its write, before the rollback sealed the old value again.
    let written: string | undefined;
    github.sim.faults.afterNext({ method: 'PUT', route: REPOSITORY_SECRET_ROUTE }, () => {
      written = github.state.plaintext(github.app, credential.key);
    });
    github.sim.faults.inject({ method: 'PUT', route: ENVIRONMENT_SECRET_ROUTE, status: 403 });
    const handle = await start('rollback');
    const error = await handle.result().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = defined((error as WorkflowFailedError).cause);
    expect(cause).toMatchObject({ type: 'RotationRolledBack' });
    expect(cause.message).toMatch(
      new RegExp(
        `^rotate \\S+-rollback: distribute failed \\(.*github write \\(put\\) repository acme/app environment production secret ${credential.key} failed: HTTP 403: Forbidden.*\\); rolled back: `,
      ),
    );
    expect(cause.message).toContain(`restore repository acme/app secret ${credential.key}: done`);
    expect(cause.message).not.toContain('FAILED');
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ outcome: 'rolled-back', versions: { current: 1 } });
    expect(status.targets.map((target) => target.state)).toEqual(['restored', 'restored', 'restored']);
    const minted = newTokens(credential);
    expect(minted.map((token) => token.revoked)).toEqual([true]);
    expect(written).toBe(defined(minted[0]).value);
    expect(targetValues(credential)).toEqual([
      credential.old.value,
      credential.old.value,
      credential.old.value,
    ]);
    expect(gitlab.state.isActive(credential.old)).toBe(true);
    expect((await vault.read({ mount: TEST_KV_MOUNT, path: `${base}/rollback` })).ref.version).toBe(1);
  });

  it('leaves no token value in any history or in the audit log', async () => {
    const { histories, text } = await bench.recorded();
    expect(histories).toBe(2);
    const values = [...gitlab.state.minted, gitlab.adminToken.value, github.adminToken.value];
    for (const value of values) expect(text).not.toContain(value);
  });
});
