import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sodium from 'libsodium-wrappers';
import { VaultKvStore } from '../../src/vault';
import { rotator } from '../helpers/cli';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { startGitHubSim, type GitHubSim } from '../sim/github/server';
import { startGitLabSim, type GitLabSim } from '../sim/gitlab/server';

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD`, `days` from now. */
export const inDays = (days: number) => new Date(Date.now() + days * DAY_MS).toISOString().slice(0, 10);

/** How many pages GitLab or GitHub answers a list of `items` with at 100 a page: an empty list is one page. */
export const pages = (items: number) => Math.max(1, Math.ceil(items / 100));

/**
 * Both simulators, their admin tokens kept in the test Vault, and an inventory file naming them, for
 * `rotator discover` and `status --horizon` run in-process as an operator would.
 */
export async function discoveryWorld() {
  await sodium.ready;
  const gitlab: GitLabSim = await startGitLabSim();
  const github: GitHubSim = await startGitHubSim();
  const admin = gitlab.state.addUser({ username: 'root', admin: true });
  const adminToken = gitlab.state.addToken({
    userId: admin.id,
    name: 'rotator-admin',
    scopes: ['api'],
    expiresAt: null,
  });
  const githubToken = github.state.addToken({ secrets: 'read' });
  const vault = new VaultKvStore(testServers().vault);
  const base = `discovery-${randomUUID()}`;
  const adminPath = { mount: TEST_KV_MOUNT, path: `${base}/admin` };
  await vault.write(adminPath, { gitlab: adminToken.value, github: githubToken.value });
  const dir = mkdtempSync(join(tmpdir(), 'discovery-'));
  const inventoryPath = join(dir, 'rotator.yaml');
  const providers = {
    gitlab: { 'gitlab-sim': { url: gitlab.url, credential: { ...adminPath, key: 'gitlab' } } },
    github: { 'github-sim': { apiUrl: github.url, credential: { ...adminPath, key: 'github' } } },
  };
  const env = () => ({
    ROTATOR_INVENTORY: inventoryPath,
    VAULT_ADDR: testServers().vault.endpoint,
    VAULT_TOKEN: testServers().vault.token,
    USER: 'alice',
  });
  return {
    gitlab,
    github,
    admin,
    adminToken,
    dir,
    providers,
    /** Writes the inventory: these credentials (and a discovery block) beside both providers. */
    writeInventory(credentials: object[], discovery?: object): void {
      writeFileSync(
        inventoryPath,
        JSON.stringify({ providers, credentials, ...(discovery ? { discovery } : {}) }),
      );
    },
    /** A credential of the inventory whose kept secret is of this run. */
    credential(id: string, source: object, targets: object[]) {
      return {
        id,
        description: `test credential ${id}`,
        environment: 'test',
        owner: 'team',
        source,
        vault: { mount: TEST_KV_MOUNT, path: `${base}/${id}` },
        targets,
      };
    },
    cli: (argv: string[]) => rotator(argv, env()),
    async close(): Promise<void> {
      await gitlab.close();
      await github.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type DiscoveryWorld = Awaited<ReturnType<typeof discoveryWorld>>;
