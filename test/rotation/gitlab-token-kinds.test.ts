import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WorkflowFailedError } from '@temporalio/client';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { statusQuery } from '../../workflows';
import { defined } from '../gitlab/world';
import { auditEntries } from '../helpers/audit';
import { historyText } from '../helpers/history';
import { rotationWorld, type RotationWorld } from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { testServers } from '../infra/test-servers';
import type { SimUser } from '../sim/gitlab/state';

/*
 * A project's pipeline trigger token and a group service account's token, rotated end to end on the real
 * Temporal and Vault servers: the happy path, a lost answer to the mint, and a rollback, for each.
 */

const vault = new VaultKvStore(testServers().vault);
const taskQueue = `gitlab-token-kinds-${randomUUID()}`;
let rotation: RotationWorld;
let running: TestWorker;
let serviceAccount: SimUser;
const started: string[] = [];

/** A live credential of one of the two kinds: its id at GitLab, its value, and how to find what was made. */
interface Live {
  id: string;
  oldId: number;
  oldValue: string;
  variableKey: string;
  /** What GitLab still holds of the credentials minted for it: id, value and whether GitLab honours each. */
  minted(): { id: number; value: string; live: boolean }[];
  /** Whether GitLab honours the credential of this id (a deleted trigger, a revoked token: no). */
  isLive(id: number): boolean;
}

type Kind = 'trigger' | 'service-account';
const MINT_ROUTE: Record<Kind, string> = {
  trigger: '/projects/:id/triggers',
  'service-account': '/groups/:id/service_accounts/:user_id/personal_access_tokens',
};
const seeded: Record<string, Live> = {};

/** Seeds the credential's current value at GitLab, in Vault and in its project CI variable, and its entry. */
async function seed(kind: Kind, name: string): Promise<void> {
  const { world } = rotation;
  const id = rotation.credentialId(`${kind}-${name}`);
  const variableKey = id.toUpperCase().replace(/-/g, '_');
  const label = `${id}-ci`;
  const current =
    kind === 'trigger'
      ? world.state.addTrigger(world.project, {
          description: label,
          ownerId: world.root.id,
          expiresAt: '2099-12-31T00:00:00.000Z',
        })
      : world.state.addToken({
          userId: serviceAccount.id,
          name: label,
          scopes: ['read_api'],
          expiresAt: '2099-12-31',
        });
  const path = rotation.vaultPath(`${kind}-${name}`);
  await vault.write(path, { token: current.value, tokenId: String(current.id), expiresAt: '2099-12-31' });
  world.state.addVariable(world.project, { key: variableKey, value: current.value, masked: true });
  const source =
    kind === 'trigger'
      ? { kind: 'gitlab-pipeline-trigger-token', project: world.project.path, description: label }
      : {
          kind: 'gitlab-service-account-token',
          group: world.group.path,
          serviceAccount: serviceAccount.id,
          tokenName: label,
          scopes: ['read_api'],
        };
  rotation.addCredential({
    id,
    description: `test ${kind} credential ${name}`,
    environment: 'test',
    owner: 'team-test',
    source: { ...source, gitlab: 'sim', lifetimeDays: 30 },
    vault: path,
    targets: [{ kind: 'gitlab-ci-variable', gitlab: 'sim', project: world.project.path, key: variableKey }],
    policy: { every: '7d', overlap: '0s' },
  });
  const tokens = () => world.state.tokensNamed(label).filter((t) => t.id !== current.id);
  const triggers = () => world.state.triggersDescribed(label).filter((t) => t.id !== current.id);
  seeded[`${kind}-${name}`] = {
    id,
    oldId: current.id,
    oldValue: current.value,
    variableKey,
    minted: () =>
      kind === 'trigger'
        ? triggers().map((t) => ({ id: t.id, value: t.value, live: !world.state.isTriggerExpired(t) }))
        : tokens().map((t) => ({ id: t.id, value: t.value, live: world.state.isActive(t) })),
    isLive: (tokenId) => {
      if (kind === 'service-account') {
        const token = world.state.tokens.get(tokenId);
        return token !== undefined && world.state.isActive(token);
      }
      const trigger = world.state.triggers.get(tokenId);
      return trigger !== undefined && !world.state.isTriggerExpired(trigger);
    },
  };
}

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  serviceAccount = rotation.world.state.addServiceAccount(rotation.world.group);
  for (const kind of ['trigger', 'service-account'] as const) {
    for (const name of ['rotated', 'lost', 'rollback']) await seed(kind, name);
  }
  rotation.writeInventory();
  running = await rotation.startWorker(taskQueue);
});

afterAll(async () => {
  await running?.stop();
  await rotation?.close();
});

async function start(credential: Live) {
  const handle = await startRotation(running.client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
  started.push(handle.workflowId);
  return handle;
}

const variableValue = ({ variableKey }: Live) =>
  defined(rotation.world.project.variables.find((v) => v.key === variableKey)).value;

describe.each(['trigger', 'service-account'] as const)('%s, on the real Temporal and Vault', (kind) => {
  it('rotates: one new credential live in Vault and the CI variable, the old one gone', async () => {
    const credential = defined(seeded[`${kind}-rotated`]);
    const result = await (await start(credential)).result();

    const minted = credential.minted();
    expect(minted).toHaveLength(1);
    const fresh = defined(minted[0]);
    expect(result).toMatchObject({
      outcome: 'rotated',
      newTokenId: String(fresh.id),
      versions: { current: 2 },
    });
    expect(fresh.live).toBe(true);
    expect(credential.isLive(credential.oldId)).toBe(false);
    const { data } = await vault.read(rotation.vaultPath(`${kind}-rotated`));
    expect(data).toMatchObject({ token: fresh.value, tokenId: String(fresh.id) });
    expect(variableValue(credential)).toBe(fresh.value);
  });

  it('recovers a mint whose answer was lost: the orphan revoked, one fresh credential live everywhere', async () => {
    const credential = defined(seeded[`${kind}-lost`]);
    const { sim } = rotation.world;
    const route = MINT_ROUTE[kind];
    sim.faults.dropAfterCommit({ method: 'POST', route, n: sim.callsTotal('POST', route) + 1 });
    const result = await (await start(credential)).result();

    const steps = result.timeline.map((entry) => entry.step);
    const orphanStep = defined(steps.find((step) => step.startsWith('revoke orphan token ')));
    const orphanId = Number(orphanStep.split(' ').at(-1));
    expect(steps).toEqual(expect.arrayContaining(['issue', 'find orphans', orphanStep, 'issue afresh']));
    const fresh = defined(credential.minted().find((m) => String(m.id) === result.newTokenId));
    expect(result).toMatchObject({ outcome: 'rotated' });
    expect(credential.isLive(orphanId)).toBe(false);
    expect(credential.minted().filter((m) => m.live)).toEqual([fresh]);
    expect(credential.isLive(credential.oldId)).toBe(false);
    expect((await vault.read(rotation.vaultPath(`${kind}-lost`))).data).toMatchObject({ token: fresh.value });
    expect(variableValue(credential)).toBe(fresh.value);
  });

  it('rolls back when the CI variable refuses the new value: the new credential revoked, the old one intact', async () => {
    const credential = defined(seeded[`${kind}-rollback`]);
    const { sim } = rotation.world;
    const route = '/projects/:id/variables/:key';
    sim.faults.failNth({ method: 'PUT', route, n: sim.callsTotal('PUT', route) + 1, status: 403 });
    const handle = await start(credential);
    const error = await handle.result().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toMatchObject({ type: 'RotationRolledBack' });
    expect(await handle.query(statusQuery)).toMatchObject({
      outcome: 'rolled-back',
      versions: { current: 1 },
    });
    const issued = auditEntries(rotation.auditLog).filter(
      (entry) => entry.credentialId === credential.id && entry.event === 'issued',
    );
    expect(issued).toHaveLength(1);
    expect(credential.isLive(Number(defined(issued[0]).tokenId))).toBe(false);
    expect(credential.minted().filter((m) => m.live)).toEqual([]);
    expect(credential.isLive(credential.oldId)).toBe(true);
    expect(variableValue(credential)).toBe(credential.oldValue);
    expect((await vault.read(rotation.vaultPath(`${kind}-rollback`))).ref.version).toBe(1);
  });
});

it('leaves no minted value in any history or in the audit log', async () => {
  const histories = await Promise.all(
    started.map((workflowId) => running.client.workflow.getHandle(workflowId).fetchHistory()),
  );
  expect(histories).toHaveLength(6);
  const text = `${histories.map(historyText).join('\n')}\n${readFileSync(rotation.auditLog, 'utf8')}`;
  const values = [...rotation.world.state.minted, rotation.world.adminToken.value];
  expect(values.length).toBeGreaterThan(12);
  for (const value of values) expect(text).not.toContain(value);
});
