import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { VaultKvStore } from '../src/vault';
import { githubWorld } from '../test/github/world';
import { gitlabWorld } from '../test/gitlab/world';
import { TEST_KV_MOUNT } from '../test/infra/test-servers';
import { pool } from './measure';

export interface SeedOptions {
  /** 1: one project CI variable. 5: two project and one group CI variable, a repository and an environment secret. */
  targets: 1 | 5;
  /** policy.overlap, e.g. '0s' or '24h'. */
  overlap: string;
}

/** The id of the `index`th credential `seedPool` seeds. */
const poolId = (index: number) => `pool-${index}`;

/** The ids of the first `count` credentials `seedPool` seeds. */
export const poolIds = (count: number) => Array.from({ length: count }, (_, i) => poolId(i));

/**
 * Both simulators with many credentials seeded live (token current in Vault and in every target), and one
 * inventory naming them all, which the worker processes read.
 */
export async function benchWorld(vault: VaultKvStore) {
  const gitlab = await gitlabWorld();
  const github = await githubWorld();
  const base = `bench/${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-'));
  const admins = { mount: TEST_KV_MOUNT, path: `${base}/admins` };
  await vault.write(admins, { gitlab: gitlab.adminToken.value, github: github.adminToken.value });
  const entries: { id: string }[] = [];
  /** Each seeded credential's token: the leak the break-glass bench reports. */
  const tokens = new Map<string, string>();
  const providers = {
    gitlab: { sim: { url: gitlab.sim.url, credential: { ...admins, key: 'gitlab' } } },
    github: { 'gh-sim': { apiUrl: github.sim.url, credential: { ...admins, key: 'github' } } },
  };

  /** One credential's inventory entry; `seed` also makes it live in the simulators and Vault. */
  const entry = (id: string, { targets, overlap }: SeedOptions) => {
    const key = id.toUpperCase().replace(/-/g, '_');
    return {
      key,
      entry: {
        id,
        description: `benchmark credential ${id}`,
        environment: 'bench',
        owner: 'team-bench',
        source: {
          kind: 'gitlab-project-access-token',
          gitlab: 'sim',
          project: gitlab.project.path,
          accessLevel: 'developer',
          tokenName: `${id}-ci`,
          scopes: ['read_api'],
          lifetimeDays: 30,
        },
        vault: { mount: TEST_KV_MOUNT, path: `${base}/${id}` },
        targets: [
          { kind: 'gitlab-ci-variable', gitlab: 'sim', project: gitlab.project.path, key: `${key}_P` },
          ...(targets === 5
            ? [
                { kind: 'gitlab-ci-variable', gitlab: 'sim', project: gitlab.project.path, key: `${key}_Q` },
                { kind: 'gitlab-ci-variable', gitlab: 'sim', group: gitlab.group.path, key: `${key}_G` },
                { kind: 'github-actions-secret', github: 'gh-sim', repository: 'acme/app', name: key },
                {
                  kind: 'github-actions-secret',
                  github: 'gh-sim',
                  repository: 'acme/app',
                  environment: 'production',
                  name: key,
                },
              ]
            : []),
        ],
        policy: { every: '7d', overlap },
      },
    };
  };

  /** Makes credential `id` live: its token current in GitLab, in Vault and in every target. */
  const seed = async (id: string, options: SeedOptions): Promise<void> => {
    const { key, entry: credential } = entry(id, options);
    const token = gitlab.state.addResourceToken(gitlab.project, 'project', {
      name: credential.source.tokenName,
      scopes: ['read_api'],
      expiresAt: '2099-12-31',
      accessLevel: 30,
    });
    await vault.write(credential.vault, {
      token: token.value,
      tokenId: String(token.id),
      expiresAt: '2099-12-31',
    });
    const value = { value: token.value, masked: true };
    gitlab.state.addVariable(gitlab.project, { key: `${key}_P`, ...value });
    if (options.targets === 5) {
      gitlab.state.addVariable(gitlab.project, { key: `${key}_Q`, ...value });
      gitlab.state.addVariable(gitlab.group, { key: `${key}_G`, ...value });
      github.state.setSecret(github.app, key, token.value);
      github.state.setSecret(github.production, key, token.value);
    }
    tokens.set(id, token.value);
    entries.push(credential);
  };

  /** The inventory of the seeded credentials `ids`, as YAML. */
  const inventoryText = (ids: string[]): string => {
    const wanted = new Set(ids);
    return stringify({ providers, credentials: entries.filter(({ id }) => wanted.has(id)) });
  };

  return {
    gitlab,
    github,
    seed,

    /** Seeds `count` credentials `poolIds(count)`, each with one target and no overlap, 16 at a time. */
    async seedPool(count: number): Promise<void> {
      await pool(count, 16, (i) => seed(poolId(i), { targets: 1, overlap: '0s' }));
    },

    inventoryText,

    /** The token `seed` made current for credential `id`. */
    seededToken(id: string): string {
      const token = tokens.get(id);
      if (token === undefined) throw new Error(`no credential ${id} was seeded`);
      return token;
    },

    /**
     * Writes an inventory of the seeded credentials `ids`; answers its path. Each worker gets only the
     * credentials it rotates, since the worker re-reads and validates the whole inventory at each load.
     */
    writeInventory(name: string, ids: string[]): string {
      const path = join(dir, `${name}.yaml`);
      writeFileSync(path, inventoryText(ids));
      return path;
    },

    /** An inventory of `count` credentials that exist only on paper: `schedules sync` reads nothing else. */
    writePaperInventory(count: number): string {
      const path = join(dir, 'schedules.yaml');
      const credentials = Array.from(
        { length: count },
        (_, i) => entry(`sched-${i}`, { targets: 1, overlap: '0s' }).entry,
      );
      writeFileSync(path, stringify({ providers, credentials }));
      return path;
    },

    /** A fresh audit log path, so that each worker's log starts empty. */
    auditLog: (name: string) => join(dir, `${name}.jsonl`),

    async close(): Promise<void> {
      await Promise.all([gitlab.sim.close(), github.sim.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type BenchWorld = Awaited<ReturnType<typeof benchWorld>>;
