import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { fingerprintOf } from '../../src/fingerprint';
import type { SecretPath, VaultKvStore } from '../../src/vault';
import { githubWorld, type GitHubWorld } from '../github/world';
import { defined, gitlabWorld } from '../gitlab/world';
import type { SimNamespace, SimToken } from '../sim/gitlab/state';
import { TEST_KV_MOUNT } from '../infra/test-servers';
import { auditEntries, auditLogFile, testAuditSink } from './audit';
import { testApprovers } from './ssh';
import { startTestWorker } from './worker';

/** The steps of a create-then-revoke rotation, in order. */
export const ROTATION_STEPS = [
  'load',
  'detect',
  'pause dependents',
  'issue',
  'verify',
  'distribute',
  'promote',
  'resume dependents',
  'overlap window',
  'revoke old',
];
/** The audit events of a rotation of a credential with two targets, up to its dependents resumed. */
export const ROTATED_EVENTS = [
  'started',
  'paused',
  'issued',
  'verified',
  'distributed',
  'distributed',
  'promoted',
  'resumed',
];

/** A credential seeded live: its project token current in Vault and in each of its targets. */
export interface SeededCredential {
  id: string;
  old: SimToken;
  vault: SecretPath;
  variables: { owner: SimNamespace; key: string }[];
  /** Its GitHub repository secrets (in `acme/app`), by name. */
  secrets: string[];
}

export interface SeedOptions {
  /** A duration, or a job-aware overlap (`{ until: jobs-drained, min, max, ... }`). */
  overlap?: string | object;
  /** A second target, a group CI variable, so that a rollback has more than one write to restore. */
  groupVariable?: boolean;
  /** How many CI variables of the project it is written to, where its targets are on GitLab: 1 unless given. */
  projectVariables?: number;
  /**
   * Where its targets are: `gitlab` (the project's CI variable, the default), `github` (a repository secret of
   * `acme/app` only: the world must have been made with GitHub), or `both`.
   */
  targets?: 'gitlab' | 'github' | 'both';
  /** Pauses the project's pipeline schedules while it rotates. */
  pausesSchedules?: boolean;
  strategy?: 'create-then-revoke' | 'rotate-in-place';
  /** The credential's `canary:` entry, as the inventory writes it. */
  canary?: object;
  /** Waits for an operator's approval (policy.requireApproval) after detect. */
  requireApproval?: boolean;
  /** A break-glass rotation waits for an approver's review before it closes (policy.breakGlassReview). */
  breakGlassReview?: boolean;
  /**
   * Keeps the token in another store than Vault: writes the credential's first value there and answers the
   * inventory's `store:` entry for it.
   */
  keepIn?: (first: { token: string; tokenId: string; expiresAt: string }, id: string) => Promise<object>;
}

/**
 * A GitLab simulator whose admin token is in Vault, with credentials seeded into it one by one and an
 * inventory naming them; `close` stops the simulator and removes the inventory and the audit log.
 */
export async function rotationWorld(vault: VaultKvStore, options: { github?: boolean } = {}) {
  const world = await gitlabWorld();
  const github: GitHubWorld | undefined = options.github === true ? await githubWorld() : undefined;
  const prefix = `t${randomUUID().slice(0, 6)}`;
  const base = `rotation/${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'rotation-'));
  const admin = { mount: TEST_KV_MOUNT, path: `${base}/admin` };
  await vault.write(admin, {
    token: world.adminToken.value,
    ...(github === undefined ? {} : { github: github.adminToken.value }),
  });
  const entries: object[] = [];
  const inventoryPath = join(dir, 'rotator.yaml');
  const auditLog = auditLogFile('rotation');
  const approvers = testApprovers();
  /** The tokens minted beside a credential's seeded one. */
  const newTokens = ({ old }: SeededCredential) =>
    world.state.tokensNamed(old.name).filter((token) => token.id !== old.id);
  const githubOf = () => {
    if (github === undefined) throw new Error('this rotation world was made without GitHub');
    return github;
  };
  /** The values of a credential's targets now: its CI variables, then its repository secrets. */
  const targetValues = ({ variables, secrets }: SeededCredential) => [
    ...variables.map(({ owner, key }) => defined(owner.variables.find((v) => v.key === key)).value),
    ...secrets.map((name) => githubOf().state.plaintext(githubOf().app, name)),
  ];

  return {
    world,
    /** The GitHub simulator, for a world made with `{ github: true }`. */
    get github(): GitHubWorld {
      return githubOf();
    },
    inventoryPath,
    auditLog,
    /** Who may approve rotations of credentials seeded with requireApproval, and their keys. */
    approvers: approvers.keys,
    credentialId: (name: string) => `${prefix}-${name}`,

    async seed(name: string, options: SeedOptions = {}): Promise<SeededCredential> {
      const id = `${prefix}-${name}`;
      const token = world.state.addResourceToken(world.project, 'project', {
        name: `${id}-ci`,
        scopes: ['read_api'],
        expiresAt: '2099-12-31',
        accessLevel: 30,
      });
      const at = { mount: TEST_KV_MOUNT, path: `${base}/${name}` };
      const first = { token: token.value, tokenId: String(token.id), expiresAt: '2099-12-31' };
      const store = options.keepIn === undefined ? { vault: at } : { store: await options.keepIn(first, id) };
      if (options.keepIn === undefined) await vault.write(at, first);
      const key = id.toUpperCase().replace(/-/g, '_');
      const where = options.targets ?? 'gitlab';
      const variables = [
        ...(where === 'github'
          ? []
          : Array.from({ length: options.projectVariables ?? 1 }, (_, i) => ({
              owner: world.project,
              key: i === 0 ? `${key}_P` : `${key}_P${i + 1}`,
            }))),
        ...(options.groupVariable === true ? [{ owner: world.group, key: `${key}_G` }] : []),
      ];
      for (const variable of variables) {
        world.state.addVariable(variable.owner, { key: variable.key, value: token.value, masked: true });
      }
      const secrets = where === 'gitlab' ? [] : [`${key}_GH`];
      for (const name of secrets) githubOf().state.setSecret(githubOf().app, name, token.value);
      entries.push({
        id,
        description: `test credential ${name}`,
        environment: 'test',
        owner: 'team-test',
        source: {
          kind: 'gitlab-project-access-token',
          gitlab: 'sim',
          project: world.project.path,
          accessLevel: 'developer',
          tokenName: token.name,
          scopes: ['read_api'],
          lifetimeDays: 30,
          strategy: options.strategy ?? 'create-then-revoke',
        },
        ...store,
        targets: [
          ...variables.map(({ owner, key: variable }) => ({
            kind: 'gitlab-ci-variable',
            gitlab: 'sim',
            [owner === world.project ? 'project' : 'group']: owner.path,
            key: variable,
          })),
          ...secrets.map((name) => ({
            kind: 'github-actions-secret',
            github: 'gh-sim',
            repository: 'acme/app',
            name,
          })),
        ],
        ...(options.canary === undefined ? {} : { canary: options.canary }),
        dependents:
          options.pausesSchedules === true
            ? [{ kind: 'gitlab-pipeline-schedules', gitlab: 'sim', project: world.project.path }]
            : [],
        policy: {
          every: '7d',
          overlap: options.overlap ?? '0s',
          ...(options.requireApproval === true ? { requireApproval: true } : {}),
          ...(options.breakGlassReview === true ? { breakGlassReview: true } : {}),
        },
      });
      return { id, old: token, vault: at, variables, secrets };
    },

    /** Where a credential named `name` keeps its secret in Vault. */
    vaultPath: (name: string): SecretPath => ({ mount: TEST_KV_MOUNT, path: `${base}/${name}` }),

    /** Adds an inventory entry written by the test itself, for sources `seed` does not make. */
    addCredential(entry: object): void {
      entries.push(entry);
    },

    /**
     * Writes the inventory with every credential seeded so far; `adminCredential` names where else the
     * simulator's admin token is kept (the test wrote it there), instead of this world's Vault path, and
     * `fallbackCredential` a second admin token.
     */
    writeInventory({
      adminCredential = { ...admin, key: 'token' },
      fallbackCredential,
    }: { adminCredential?: object; fallbackCredential?: object } = {}): void {
      writeFileSync(
        inventoryPath,
        stringify({
          providers: {
            gitlab: {
              sim: {
                url: world.sim.url,
                credential: adminCredential,
                ...(fallbackCredential === undefined ? {} : { fallbackCredential }),
              },
            },
            ...(github === undefined
              ? {}
              : {
                  github: { 'gh-sim': { apiUrl: github.sim.url, credential: { ...admin, key: 'github' } } },
                }),
          },
          approvers: approvers.inventory,
          credentials: entries,
        }),
      );
    },

    newTokens,
    targetValues,
    /** A credential's entries in the audit log, in order. */
    audited: ({ id }: SeededCredential) =>
      auditEntries(auditLog).filter((entry) => entry.credentialId === id),

    /** Exactly one new token, live in Vault and every target; the seeded one revoked. */
    async expectRotatedOnce(credential: SeededCredential): Promise<void> {
      const minted = newTokens(credential);
      expect(minted).toHaveLength(1);
      const fresh = defined(minted[0]);
      expect(world.state.isActive(fresh)).toBe(true);
      expect(world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
      const { data, ref } = await vault.read(credential.vault);
      expect(ref.version).toBe(2);
      expect(data).toMatchObject({ token: fresh.value, tokenId: String(fresh.id) });
      expect(targetValues(credential)).toEqual(targetValues(credential).map(() => fresh.value));
      expect(targetValues(credential)).toHaveLength(credential.variables.length + credential.secrets.length);
    },

    /** A worker in this process, rotating this world's credentials on `taskQueue`. */
    /** A worker on this world's inventory and audit log; `options` for an encrypting one, or another server. */
    startWorker: (
      taskQueue: string,
      options: Pick<Parameters<typeof startTestWorker>[0], 'dataConverter' | 'address' | 'stores'> = {},
    ) => startTestWorker({ taskQueue, vault, inventoryPath, audit: testAuditSink(auditLog), ...options }),

    async close(): Promise<void> {
      await world.sim.close();
      await github?.sim.close();
      rmSync(dir, { recursive: true, force: true });
      approvers.close();
    },
  };
}

export type RotationWorld = Awaited<ReturnType<typeof rotationWorld>>;

/** Polls `ready` every 100 ms, for at most 30 s; the caller asserts what it waited for. */
export async function until(ready: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 300 && !(await ready()); attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What alert intake matches a leaked token of a seeded credential to: the `leaked` of a break-glass request. */
export function leakedToken(
  token: { id: number; value: string },
  version: 'current' | 'previous' = 'current',
): { fingerprint: string; field: string; version: 'current' | 'previous'; tokenId: string } {
  return { fingerprint: fingerprintOf(token.value), field: 'token', version, tokenId: String(token.id) };
}
