import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApplicationFailure,
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
} from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import type { RotationRequest } from '../../activities/rotation';
import { verifyAuditLog } from '../../src/audit';
import { ROTATION_OUTCOME, ROTATION_PHASE } from '../../src/search-attributes';
import { startRotation } from '../../src/rotations';
import { rotationWorkflowId } from '../../src/rotation-names';
import { VaultKvStore } from '../../src/vault';
import { approve, endOverlapNow, resolve, retryRollback, statusQuery } from '../../workflows';
import type { SimNamespace, SimToken } from '../sim/gitlab/state';
import { auditEntries, auditLogFile, testAuditSink, testAuditTrust } from '../helpers/audit';
import { HISTORY_FIXTURES, historyText, historyToFixture } from '../helpers/history';
import { ROTATED_EVENTS, ROTATION_STEPS, until } from '../helpers/rotation';
import { signedApproval, sshFingerprint, testApprovers } from '../helpers/ssh';
import { startTestWorker, type TestWorker } from '../helpers/worker';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { defined, gitlabWorld, type GitLabWorld } from '../gitlab/world';

const servers = testServers();
const vault = new VaultKvStore(servers.vault);
const taskQueue = `rotation-${randomUUID()}`;
const base = `rotation/${randomUUID()}`;
const prefix = `t${randomUUID().slice(0, 6)}`;
const dir = mkdtempSync(join(tmpdir(), 'rotation-'));
const auditLog = auditLogFile('rotate-credential');
const approvers = testApprovers();
let world: GitLabWorld;
let running: TestWorker;
let client: Client;
/**
 * The rotations whose histories `npm run fixtures:record` commits, by fixture name: every end the workflow
 * can reach here (the OAuth2 ends, compromised among them, are replayed from test/rotation/oauth2.test.ts).
 */
const FIXTURES = {
  'happy-path': 'project-create',
  'in-place': 'group-in-place',
  rollback: 'rollback',
  approval: 'approved',
  'approval-timeout': 'unapproved',
  'cancelled-mid-distribute': 'cancelled',
  'lost-mint-recovered': 'lost-create',
  'lost-in-place-recovered': 'lost-in-place',
  'lost-in-place': 'lost-in-place-twice',
  'lost-mint-orphan-on-rollback': 'lost-orphan',
  'roll-forward': 'forward-in-place',
  'needs-operator': 'restore-retried',
  'needs-operator-resolved': 'restore-resolved',
  'mint-5xx-recovered': 'failed-after-create',
  'detect-refused': 'detect-refused',
  'failed-after-promote': 'revoke-fails',
  'old-token-still-used': 'old-still-used',
  'dry-run': 'not-due',
};
/** Every rotation these tests start, for the secret scan and the replay at the end. */
const started: string[] = [];

type Kind = 'project' | 'group' | 'personal';
interface Seeded {
  id: string;
  kind: Kind;
  old: SimToken;
  variables: { owner: SimNamespace; key: string }[];
}
const credentials: Record<string, object> = {};
const seeded: Record<string, Seeded> = {};

/** A credential with a live token in GitLab, its value current in Vault and in two CI variables. */
async function seed(
  name: string,
  kind: Kind,
  options: { strategy: string; overlap?: string; every?: string; approvalTimeout?: string } = {
    strategy: 'create-then-revoke',
  },
) {
  const id = `${prefix}-${name}`;
  const tokenName = `${id}-ci`;
  const token =
    kind === 'personal'
      ? world.state.addToken({
          userId: world.maintainer.id,
          name: tokenName,
          scopes: ['read_api'],
          expiresAt: '2099-12-31',
        })
      : world.state.addResourceToken(kind === 'project' ? world.project : world.group, kind, {
          name: tokenName,
          scopes: ['read_api'],
          expiresAt: '2099-12-31',
          accessLevel: 30,
        });
  const vaultPath = `${base}/${name}`;
  await vault.write(
    { mount: TEST_KV_MOUNT, path: vaultPath },
    {
      token: token.value,
      tokenId: String(token.id),
      expiresAt: defined(token.expiresAt ?? undefined),
    },
  );
  const key = id.toUpperCase().replace(/-/g, '_');
  const variables = [
    { owner: world.project, key: `${key}_P` },
    { owner: world.group, key: `${key}_G` },
  ];
  for (const { owner, key: variable } of variables) {
    world.state.addVariable(owner, { key: variable, value: token.value, masked: true, protected: true });
  }
  const owner =
    kind === 'project'
      ? { kind: 'gitlab-project-access-token', project: world.project.path, accessLevel: 'developer' }
      : kind === 'group'
        ? { kind: 'gitlab-group-access-token', group: world.group.path, accessLevel: 'developer' }
        : { kind: 'gitlab-personal-access-token', user: world.maintainer.id };
  credentials[id] = {
    id,
    description: `test credential ${name}`,
    environment: 'test',
    owner: 'team-test',
    source: {
      ...owner,
      gitlab: 'sim',
      tokenName,
      scopes: ['read_api'],
      lifetimeDays: 30,
      strategy: options.strategy,
    },
    vault: { mount: TEST_KV_MOUNT, path: vaultPath },
    targets: [
      { kind: 'gitlab-ci-variable', gitlab: 'sim', project: world.project.path, key: `${key}_P` },
      { kind: 'gitlab-ci-variable', gitlab: 'sim', group: world.group.path, key: `${key}_G` },
    ],
    dependents: [{ kind: 'gitlab-pipeline-schedules', gitlab: 'sim', project: world.project.path }],
    policy: {
      every: options.every ?? '7d',
      ...(options.overlap === undefined ? {} : { overlap: options.overlap }),
      ...(options.approvalTimeout === undefined
        ? {}
        : { requireApproval: true, approvalTimeout: options.approvalTimeout }),
    },
  };
  seeded[id] = { id, kind, old: token, variables };
}

beforeAll(async () => {
  world = await gitlabWorld();
  const admin = { mount: TEST_KV_MOUNT, path: `${base}/admin` };
  await vault.write(admin, { token: world.adminToken.value });
  world.state.addSchedule(world.project, { description: 'nightly', active: true, ownerId: world.root.id });
  world.state.addSchedule(world.project, { description: 'off', active: false, ownerId: world.root.id });
  await seed('project-create', 'project', { strategy: 'create-then-revoke', overlap: '1s' });
  await seed('group-in-place', 'group', { strategy: 'rotate-in-place' });
  await seed('personal-create', 'personal', { strategy: 'create-then-revoke', overlap: '1s' });
  await seed('rollback', 'project');
  await seed('concurrent', 'project', { strategy: 'create-then-revoke', overlap: '1h' });
  await seed('not-due', 'project');
  await seed('cancelled', 'project');
  await seed('revoke-fails', 'project', { strategy: 'create-then-revoke', overlap: '0s' });
  await seed('approved', 'project', { strategy: 'create-then-revoke', overlap: '0s', approvalTimeout: '1h' });
  await seed('unapproved', 'project', { strategy: 'create-then-revoke', approvalTimeout: '2s' });
  await seed('lost-create', 'project', { strategy: 'create-then-revoke', overlap: '0s' });
  await seed('lost-in-place', 'group', { strategy: 'rotate-in-place' });
  await seed('forward-in-place', 'group', { strategy: 'rotate-in-place' });
  await seed('lost-orphan', 'project', { strategy: 'create-then-revoke', overlap: '0s' });
  await seed('detect-refused', 'project');
  await seed('refused-create', 'project', { strategy: 'create-then-revoke', overlap: '0s' });
  await seed('failed-after-create', 'project', { strategy: 'create-then-revoke', overlap: '0s' });
  await seed('cut-short-after-create', 'project', { strategy: 'create-then-revoke', overlap: '0s' });
  await seed('refused-in-place', 'group', { strategy: 'rotate-in-place', overlap: '0s' });
  await seed('lost-in-place-twice', 'group', { strategy: 'rotate-in-place' });
  await seed('restore-retried', 'project');
  await seed('restore-resolved', 'project');
  await seed('old-still-used', 'project', { strategy: 'create-then-revoke', overlap: '1h' });
  const inventoryPath = join(dir, 'rotator.yaml');
  writeFileSync(
    inventoryPath,
    stringify({
      providers: { gitlab: { sim: { url: world.sim.url, credential: { ...admin, key: 'token' } } } },
      approvers: approvers.inventory,
      credentials: Object.values(credentials),
    }),
  );
  running = await startTestWorker({ taskQueue, vault, inventoryPath, audit: testAuditSink(auditLog) });
  client = running.client;
});

afterAll(async () => {
  await running?.stop();
  await world?.sim.close();
  rmSync(dir, { recursive: true, force: true });
  approvers.close();
});

async function start(name: string, request: Partial<RotationRequest> = {}) {
  const handle = await startRotation(client, taskQueue, {
    credentialId: `${prefix}-${name}`,
    reason: 'manual',
    requestedBy: 'alice',
    ...request,
  });
  started.push(handle.workflowId);
  return handle;
}

/** Starts a forced rotation whose next call to `route` GitLab refuses with 403, and waits for it to fail. */
async function failedRotation(name: string, method: string, route: string) {
  world.sim.faults.failNth({ method, route, n: world.sim.callsTotal(method, route) + 1, status: 403 });
  const handle = await start(name, { force: true });
  const error = await handle.result().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return { handle, cause };
}

/** The tokens minted beside a credential's seeded one. */
const newTokens = ({ old }: Seeded) =>
  world.state.tokensNamed(old.name).filter((token) => token.id !== old.id);
const variable = ({ owner, key }: Seeded['variables'][number]) =>
  defined(owner.variables.find((v) => v.key === key));
const current = (name: string) => vault.read({ mount: TEST_KV_MOUNT, path: `${base}/${name}` });
const schedulesActive = () => world.project.schedules.map((schedule) => schedule.active);
/** A credential's entries in the audit log, in order. */
const audited = (name: string) =>
  auditEntries(auditLog).filter((entry) => entry.credentialId === `${prefix}-${name}`);

describe('rotateCredential on the real Temporal and Vault with the GitLab simulator', () => {
  it.each([
    ['project-create', 'create-then-revoke'],
    ['group-in-place', 'rotate-in-place'],
    ['personal-create', 'create-then-revoke'],
  ])(
    'rotates %s (%s): Vault, GitLab and every target agree on one new token; the old one is revoked',
    async (name, strategy) => {
      const credential = defined(seeded[`${prefix}-${name}`]);
      const result = await (await start(name, { force: true })).result();

      expect(result).toMatchObject({
        phase: 'done',
        outcome: 'rotated',
        versions: { current: 2, previous: 1, staged: 1 },
      });
      expect(result.targets.map((target) => target.state)).toEqual(['written', 'written']);
      // Nothing used the old token after the switch: the overlap was not extended.
      expect(result.alerts).toEqual([]);
      expect(result.timeline.map((entry) => [entry.step, entry.result])).toEqual(
        ROTATION_STEPS.filter((step) => step !== 'revoke old' || strategy === 'create-then-revoke').map(
          (step) => [step, 'ok'],
        ),
      );
      const minted = newTokens(credential);
      expect(minted).toHaveLength(1);
      const fresh = defined(minted[0]);
      expect(world.state.isActive(fresh)).toBe(true);
      expect(world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
      const { data, ref } = await current(name);
      expect(ref.version).toBe(2);
      expect(data).toMatchObject({ token: fresh.value, tokenId: String(fresh.id) });
      for (const target of credential.variables) expect(variable(target).value).toBe(fresh.value);
      expect(schedulesActive()).toEqual([true, false]);
      const description = await client.workflow.getHandle(rotationWorkflowId(credential.id)).describe();
      expect(description.typedSearchAttributes.get(ROTATION_OUTCOME)).toBe('rotated');
      expect(await description.staticSummary()).toBe(`rotate ${credential.id} (manual)`);
      const entries = audited(name);
      expect(entries.map((entry) => entry.event)).toEqual(
        strategy === 'create-then-revoke'
          ? [...ROTATED_EVENTS, 'revoked']
          : [...ROTATED_EVENTS.slice(0, 3), 'revoked', ...ROTATED_EVENTS.slice(3)],
      );
      expect(entries.find((entry) => entry.event === 'issued')).toMatchObject({
        step: 'issue',
        actor: 'alice',
        reason: 'manual',
        outcome: 'ok',
        workflowId: rotationWorkflowId(credential.id),
        tokenId: String(fresh.id),
        replacesTokenId: String(credential.old.id),
        vault: { staged: 1 },
      });
      expect(entries.find((entry) => entry.event === 'revoked')).toMatchObject({
        tokenId: String(credential.old.id),
      });
    },
  );

  it('rolls back when a target write fails: targets restored exactly, new token revoked, Vault unchanged', async () => {
    const credential = defined(seeded[`${prefix}-rollback`]);
    const before = credential.variables.map((target) => ({ ...variable(target) }));
    const { handle, cause } = await failedRotation('rollback', 'PUT', '/groups/:id/variables/:key');

    expect(cause).toMatchObject({ type: 'RotationRolledBack' });
    const status = await handle.query(statusQuery);
    expect(cause?.message).toMatch(
      /^rotate \S+-rollback: distribute failed \(auth: gitlab write .+ HTTP 403: .+\); rolled back: /,
    );
    expect(cause?.message).toContain(`revoke new token ${defined(status.newTokenId)}: done`);
    expect(cause?.message).not.toContain('FAILED');
    const minted = newTokens(credential);
    expect(minted).toHaveLength(1);
    expect(defined(minted[0]).revoked).toBe(true);
    expect(world.state.isActive(credential.old)).toBe(true);
    expect(credential.variables.map((target) => ({ ...variable(target) }))).toEqual(before);
    expect((await current('rollback')).ref.version).toBe(1);
    expect(schedulesActive()).toEqual([true, false]);
    expect(status).toMatchObject({ outcome: 'rolled-back', versions: { current: 1, staged: 1 } });
    expect(status.targets.map((target) => target.state)).toEqual(['restored', 'restored']);
    const entries = audited('rollback');
    expect(entries.map((entry) => entry.event)).toEqual([
      ...ROTATED_EVENTS.slice(0, 5),
      'revoked',
      'resumed',
      'rolled back',
    ]);
    expect(entries.at(-3)).toMatchObject({ step: 'rollback', tokenId: status.newTokenId });
    expect(entries.at(-1)).toMatchObject({
      step: 'distribute',
      outcome: 'rolled-back',
      detail: cause?.message,
    });
  });

  it('rolls forward when a target write fails after rotating in place: the old token is gone, so Vault and every target get the new one', async () => {
    const credential = defined(seeded[`${prefix}-forward-in-place`]);
    const { handle, cause } = await failedRotation('forward-in-place', 'PUT', '/groups/:id/variables/:key');

    const status = await handle.query(statusQuery);
    const [fresh] = newTokens(credential).map(defined);
    expect(cause?.message).toContain(
      `roll forward to new token ${fresh?.id} in Vault ${TEST_KV_MOUNT}/${base}/forward-in-place and every target: done`,
    );
    expect(status).toMatchObject({ outcome: 'failed', newTokenId: String(fresh?.id) });
    expect(status.alerts).toEqual([expect.stringContaining('rolled forward to new token')]);
    expect(world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    expect(world.state.isActive(defined(fresh))).toBe(true);
    const { data, ref } = await current('forward-in-place');
    expect(ref.version).toBe(2);
    expect(data).toMatchObject({ token: fresh?.value, tokenId: String(fresh?.id) });
    for (const target of credential.variables) expect(variable(target).value).toBe(fresh?.value);
    expect(status.targets.map((target) => target.state)).toEqual(credential.variables.map(() => 'written'));
    expect(schedulesActive()).toEqual([true, false]);
  });

  it('ends a rotation whose detect GitLab refuses like any other: the step named, nothing changed, audited', async () => {
    const credential = defined(seeded[`${prefix}-detect-refused`]);
    const { handle, cause } = await failedRotation(
      'detect-refused',
      'GET',
      '/projects/:id/access_tokens/:token_id',
    );

    expect(cause).toMatchObject({ type: 'RotationRolledBack' });
    expect(cause?.message).toMatch(
      /^rotate \S+-detect-refused: detect failed \(auth: gitlab inspect .*HTTP 403.*\); rolled back: nothing had changed; to do: check that the provider's admin token is valid/,
    );
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ phase: 'done', outcome: 'rolled-back' });
    expect(status.timeline.map((entry) => [entry.step, entry.result])).toEqual([
      ['load', 'ok'],
      ['detect', 'failed'],
    ]);
    expect(newTokens(credential)).toEqual([]);
    expect(audited('detect-refused').map((entry) => [entry.event, entry.outcome])).toEqual([
      ['rolled back', 'rolled-back'],
    ]);
  });

  it('revokes what a lost mint left behind when finding it failed: rollback looks again', async () => {
    const credential = defined(seeded[`${prefix}-lost-orphan`]);
    const [create, list] = [
      { method: 'POST', route: '/projects/:id/access_tokens' },
      { method: 'GET', route: '/projects/:id/access_tokens' },
    ];
    world.sim.faults.dropAfterCommit({ ...create, n: world.sim.callsTotal(create.method, create.route) + 1 });
    world.sim.faults.failNth({ ...list, n: world.sim.callsTotal(list.method, list.route) + 1, status: 403 });
    const error = await (await start('lost-orphan', { force: true })).result().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const message = defined((error as WorkflowFailedError).cause).message;
    expect(message).toMatch(/find orphans failed \(auth: /);
    expect(message).toContain('revoke what the lost mint of');
    expect(message).not.toContain('FAILED');
    const minted = newTokens(credential);
    expect(minted).toHaveLength(1);
    expect(defined(minted[0]).revoked).toBe(true);
    expect(world.state.isActive(credential.old)).toBe(true);
    expect((await current('lost-orphan')).ref.version).toBe(1);
  });

  it('ends compromised-or-lost when a lost rotate-in-place revoked the old token and no fresh one can be made', async () => {
    const credential = defined(seeded[`${prefix}-lost-in-place-twice`]);
    const [rotate, create] = [
      { method: 'POST', route: '/groups/:id/access_tokens/:token_id/rotate' },
      { method: 'POST', route: '/groups/:id/access_tokens' },
    ];
    world.sim.faults.dropAfterCommit({ ...rotate, n: world.sim.callsTotal(rotate.method, rotate.route) + 1 });
    world.sim.faults.failNth({
      ...create,
      n: world.sim.callsTotal(create.method, create.route) + 1,
      status: 403,
    });
    const handle = await start('lost-in-place-twice', { force: true });
    const error = await handle.result().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('compromised-or-lost');
    expect(status.alerts).toEqual([expect.stringContaining('NO live token is left')]);
    expect(world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    expect(newTokens(credential).map((token) => token.revoked)).toEqual([true]);
    expect(audited('lost-in-place-twice').at(-1)).toMatchObject({ outcome: 'compromised-or-lost' });
  });

  it.each([
    ['lost-create', 'POST', '/projects/:id/access_tokens', 'revoke old'],
    ['lost-in-place', 'POST', '/groups/:id/access_tokens/:token_id/rotate', undefined],
  ])(
    'recovers %s when the answer to the mint is lost: the orphan revoked, one fresh token live everywhere',
    async (name, method, route, revokeOld) => {
      const credential = defined(seeded[`${prefix}-${name}`]);
      world.sim.faults.dropAfterCommit({ method, route, n: world.sim.callsTotal(method, route) + 1 });
      const result = await (await start(name, { force: true })).result();

      const minted = newTokens(credential);
      expect(minted).toHaveLength(2);
      const [orphan, fresh] = minted.map(defined);
      expect(result).toMatchObject({
        outcome: 'rotated',
        newTokenId: String(fresh?.id),
        versions: { current: 2 },
      });
      expect(result.timeline.map((entry) => [entry.step, entry.result])).toEqual([
        ['load', 'ok'],
        ['detect', 'ok'],
        ['pause dependents', 'ok'],
        ['issue', 'failed'],
        ['find orphans', 'ok'],
        [`revoke orphan token ${orphan?.id}`, 'ok'],
        ['issue afresh', 'ok'],
        ...['verify', 'distribute', 'promote', 'resume dependents', 'overlap window'].map((s) => [s, 'ok']),
        ...(revokeOld === undefined ? [] : [[revokeOld, 'ok']]),
      ]);
      expect(orphan?.revoked).toBe(true);
      expect(world.state.isActive(defined(fresh))).toBe(true);
      // Created afresh, never rotated again: no reuse detection, so the fresh token's family is its own.
      expect(fresh?.familyId).toBe(fresh?.id);
      expect(world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
      const { data } = await current(name);
      expect(data).toMatchObject({ token: fresh?.value, tokenId: String(fresh?.id) });
      for (const target of credential.variables) expect(variable(target).value).toBe(fresh?.value);
      const events = audited(name).map((entry) => [entry.event, entry.tokenId]);
      expect(events.slice(1, 6)).toEqual([
        ['paused', undefined],
        ['revoked', String(orphan?.id)],
        ['recovered', String(fresh?.id)],
        ['issued', String(fresh?.id)],
        ...(revokeOld === undefined
          ? [['revoked', String(credential.old.id)]]
          : [['verified', String(fresh?.id)]]),
      ]);
      expect(audited(name).find((entry) => entry.event === 'recovered')?.detail).toBe(
        `the first mint's outcome was unknown (its answer lost, or a 5xx); revoked what it left behind: token ${orphan?.id}; created afresh`,
      );
    },
  );

  /** A proxy that ends GitLab's answer halfway: a 200 whose body does not parse. */
  const cutShort = {
    contentType: 'application/json',
    body: (answer: string) => answer.slice(0, answer.length / 2),
  };
  it.each([
    ['refused-create', '/projects/:id/access_tokens', 'refused', 503, undefined],
    ['failed-after-create', '/projects/:id/access_tokens', 'made', 502, undefined],
    ['cut-short-after-create', '/projects/:id/access_tokens', 'made', 200, cutShort],
    ['refused-in-place', '/groups/:id/access_tokens/:token_id/rotate', 'refused', 500, undefined],
  ] as const)(
    'mints afresh once when %s is answered with a 5xx or a broken 200: a mint it %s is revoked, one fresh token live everywhere',
    async (name, route, happened, status, page) => {
      const credential = defined(seeded[`${prefix}-${name}`]);
      const n = world.sim.callsTotal('POST', route) + 1;
      const fault = { method: 'POST', route, n, status, ...(page === undefined ? {} : { page }) };
      if (happened === 'made') world.sim.faults.failAfterCommit(fault);
      else world.sim.faults.failNth(fault);
      const result = await (await start(name, { force: true })).result();

      const minted = newTokens(credential).map(defined);
      const fresh = defined(minted.at(-1));
      const orphans = minted.slice(0, -1);
      expect(orphans).toHaveLength(happened === 'made' ? 1 : 0);
      for (const orphan of orphans) expect(orphan.revoked).toBe(true);
      expect(result).toMatchObject({
        outcome: 'rotated',
        newTokenId: String(fresh.id),
        versions: { current: 2 },
      });
      expect(result.failures).toEqual([
        expect.objectContaining({ step: 'issue', class: 'lost-response', recovered: true }),
      ]);
      expect(result.timeline.map((entry) => entry.step)).toEqual([
        'load',
        'detect',
        'pause dependents',
        'issue',
        'find orphans',
        ...orphans.map((orphan) => `revoke orphan token ${orphan.id}`),
        'issue afresh',
        ...['verify', 'distribute', 'promote', 'resume dependents', 'overlap window', 'revoke old'],
      ]);
      // The refused rotate-in-place changed nothing: the fresh token is made beside the old, then the old goes.
      expect(world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
      expect(world.state.isActive(fresh)).toBe(true);
      expect((await current(name)).data).toMatchObject({ token: fresh.value, tokenId: String(fresh.id) });
      for (const target of credential.variables) expect(variable(target).value).toBe(fresh.value);
    },
  );

  /** A rotation whose group write fails, and whose restore of it then fails on every one of its 2 attempts. */
  async function rollbackAwaitingOperator(name: string) {
    const route = '/groups/:id/variables/:key';
    const n = world.sim.callsTotal('PUT', route);
    world.sim.faults.failNth({ method: 'PUT', route, n: n + 1, status: 403 });
    for (const k of [2, 3]) world.sim.faults.failNth({ method: 'PUT', route, n: n + k, status: 500 });
    const handle = await start(name, { force: true, rollbackAttempts: 2 });
    await until(async () => (await handle.query(statusQuery)).phase === 'needs-operator');
    const status = await handle.query(statusQuery);
    expect(status.targets.map((target) => target.state)).toEqual(['restored', 'restore-failed']);
    expect((await handle.describe()).typedSearchAttributes.get(ROTATION_PHASE)).toBe('needs-operator');
    return handle;
  }
  const rolledBackCause = async (handle: Awaited<ReturnType<typeof start>>) => {
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    return defined((error as WorkflowFailedError).cause);
  };

  it('calls an operator when a restore fails beyond its retries; retryRollback finishes the rollback', async () => {
    const credential = defined(seeded[`${prefix}-restore-retried`]);
    const before = credential.variables.map((target) => ({ ...variable(target) }));
    const handle = await rollbackAwaitingOperator('restore-retried');
    const refused = await handle
      .executeUpdate(retryRollback, { args: [{ requestedBy: '' }] })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({
      cause: { message: 'expected requestedBy: the name of whoever retries' },
    });

    await handle.executeUpdate(retryRollback, { args: [{ requestedBy: 'carol' }] });
    const cause = await rolledBackCause(handle);
    expect(cause).toMatchObject({ type: 'RotationRolledBack' });
    expect(cause.message).toMatch(/restore group platform CI variable [^:]+: done/);
    expect(cause.message).not.toContain('FAILED');
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ outcome: 'rolled-back' });
    expect(status.targets.map((target) => target.state)).toEqual(['restored', 'restored']);
    expect(status.timeline.map((entry) => entry.step).slice(-2)).toEqual([
      'await operator',
      'rollback retried by carol',
    ]);
    expect(credential.variables.map((target) => ({ ...variable(target) }))).toEqual(before);
    expect(newTokens(credential).map((token) => token.revoked)).toEqual([true]);
    expect(audited('restore-retried').at(-1)).toMatchObject({ event: 'rolled back', outcome: 'rolled-back' });
  });

  it('ends a rollback an operator resolves with outcome failed, audited with their note', async () => {
    const handle = await rollbackAwaitingOperator('restore-resolved');
    const refused = await handle
      .executeUpdate(resolve, { args: [{ resolvedBy: 'carol', note: ' ' }] })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ cause: { message: 'expected note: what the operator did or will do' } });

    await handle.executeUpdate(resolve, { args: [{ resolvedBy: 'carol', note: 'restored by hand' }] });
    const cause = await rolledBackCause(handle);
    expect(cause.message).toMatch(/FAILED .*; resolved by carol: restored by hand$/);
    expect(await handle.query(statusQuery)).toMatchObject({ phase: 'done', outcome: 'failed' });
    expect(audited('restore-resolved').at(-1)).toMatchObject({
      event: 'failed',
      outcome: 'failed',
      detail: cause.message,
    });
  });

  it('waits for an approval whose signature checks out, refuses one that does not, and rotates once approved', async () => {
    const handle = await start('approved', { force: true });
    await until(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval');
    const facts = { credentialId: `${prefix}-approved`, requestedBy: 'alice' };
    // Signed with bob's key, claimed for carol: the key listed for carol does not verify it.
    const forged = await signedApproval(handle, approvers.keys.bob, 'carol', facts);
    const refused = await handle.executeUpdate(approve, { args: [forged] }).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      cause: { type: 'ApprovalRefused', message: expect.stringContaining('carol') },
    });
    expect((await handle.query(statusQuery)).approvedBy).toBeUndefined();

    await handle.executeUpdate(approve, {
      args: [await signedApproval(handle, approvers.keys.bob, 'bob', facts)],
    });
    const result = await handle.result();
    const fingerprint = sshFingerprint(approvers.keys.bob);
    expect(result).toMatchObject({ outcome: 'rotated', approvedBy: 'bob', approvalKey: fingerprint });
    expect(result.timeline.map((entry) => entry.step).slice(0, 5)).toEqual([
      'load',
      'detect',
      'approve',
      'approval by carol refused',
      `approved by bob (key ${fingerprint})`,
    ]);
    const entries = audited('approved');
    expect(entries.map((entry) => entry.event)).toEqual([
      'started',
      'approved',
      ...ROTATED_EVENTS.slice(1),
      'revoked',
    ]);
    expect(entries[1]).toMatchObject({
      step: 'approve',
      actor: 'bob',
      detail: `signed with key ${fingerprint}`,
    });
    expect(entries[2]).toMatchObject({ actor: 'alice' });
  });

  it('cancels a rotation nobody approves within policy.approvalTimeout, changing nothing', async () => {
    const credential = defined(seeded[`${prefix}-unapproved`]);
    const result = await (await start('unapproved', { force: true })).result();

    expect(result).toMatchObject({
      phase: 'done',
      outcome: 'cancelled',
      detail: 'not approved within 2s: nothing was changed',
    });
    expect(newTokens(credential)).toEqual([]);
    expect((await current('unapproved')).ref.version).toBe(1);
    expect(audited('unapproved').map((entry) => [entry.event, entry.outcome])).toEqual([
      ['started', 'ok'],
      ['skipped', 'cancelled'],
    ]);
  });

  it('rolls back to the end when the rotation is cancelled mid-distribute: cancellation cannot cut rollback short', async () => {
    const credential = defined(seeded[`${prefix}-cancelled`]);
    const before = credential.variables.map((target) => ({ ...variable(target) }));
    // Slow answers keep the rotation in distribute long enough to cancel it there.
    world.sim.faults.latency(300);
    try {
      const handle = await start('cancelled', { force: true });
      await until(async () => (await handle.query(statusQuery)).phase === 'distributing');
      await handle.cancel();
      const error = await handle.result().catch((e: unknown) => e);

      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toMatchObject({ type: 'RotationRolledBack' });
      expect((error as WorkflowFailedError).cause?.message).toMatch(
        /^rotate \S+-cancelled: distribute failed \(cancelled\); rolled back: .*revoke new token \d+: done/,
      );
      expect((error as WorkflowFailedError).cause?.message).not.toContain('FAILED');
    } finally {
      world.sim.faults.latency(0);
    }
    expect(newTokens(credential).map((token) => token.revoked)).toEqual([true]);
    expect(credential.variables.map((target) => ({ ...variable(target) }))).toEqual(before);
    expect((await current('cancelled')).ref.version).toBe(1);
    expect(schedulesActive()).toEqual([true, false]);
  });

  it('does not roll back a failure after promote: the new token stays live in Vault and every target', async () => {
    const credential = defined(seeded[`${prefix}-revoke-fails`]);
    const { handle, cause } = await failedRotation(
      'revoke-fails',
      'DELETE',
      '/projects/:id/access_tokens/:token_id',
    );

    expect(cause).toMatchObject({ type: 'RotationIncomplete' });
    expect(cause?.message).toMatch(
      /^rotate \S+-revoke-fails: revoke old failed after promote \(.*HTTP 403.*\), not rolled back: /,
    );
    const { data } = await current('revoke-fails');
    const fresh = defined(world.state.tokens.get(Number(data.tokenId)));
    expect(fresh.id).not.toBe(credential.old.id);
    expect(world.state.isActive(fresh)).toBe(true);
    for (const target of credential.variables) expect(variable(target).value).toBe(fresh.value);
    expect(world.state.isActive(credential.old)).toBe(true);
    expect(await handle.query(statusQuery)).toMatchObject({
      outcome: 'failed',
      versions: { current: 2, previous: 1 },
      alerts: [`old token ${credential.old.id} is still valid: revoke it by hand`],
    });
    expect(cause?.message).toMatch(/; old token \d+ is still valid: revoke it by hand$/);
    expect(audited('revoke-fails').slice(-2)).toMatchObject([
      { event: 'resumed', step: 'resume dependents' },
      { event: 'failed', step: 'revoke old', outcome: 'failed', detail: cause?.message },
    ]);
  });

  it('refuses a second rotation of a credential while one runs, naming it; a finished id may be reused', async () => {
    const handle = await start('concurrent', { force: true });
    const second = await start('concurrent', { force: true }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    expect(second).toMatchObject({ workflowId: rotationWorkflowId(`${prefix}-concurrent`) });

    await until(async () => (await handle.query(statusQuery)).phase === 'overlapping');
    const approval = await signedApproval(handle, approvers.keys.bob, 'bob', {
      credentialId: `${prefix}-concurrent`,
      requestedBy: 'alice',
    });
    const unawaited = await handle.executeUpdate(approve, { args: [approval] }).catch((e: unknown) => e);
    expect(unawaited).toMatchObject({ cause: { message: 'nothing awaits approval (phase overlapping)' } });
    const unneeded = await handle
      .executeUpdate(retryRollback, { args: [{ requestedBy: 'carol' }] })
      .catch((e: unknown) => e);
    expect(unneeded).toMatchObject({
      cause: { message: 'no rollback awaits an operator (phase overlapping)' },
    });
    await handle.executeUpdate(endOverlapNow, { args: [{ requestedBy: 'alice' }] });
    expect(await handle.result()).toMatchObject({ outcome: 'rotated' });
    expect((await start('concurrent', { dryRun: true, force: true })).workflowId).toBe(handle.workflowId);
  });

  it('extends the overlap once and raises an alert when the old token is used after the targets switched', async () => {
    const credential = defined(seeded[`${prefix}-old-still-used`]);
    const handle = await start('old-still-used', { force: true });
    await until(async () => (await handle.query(statusQuery)).phase === 'overlapping');
    // Something that still holds the old token calls GitLab with it, which updates its last_used_at.
    const used = await fetch(new URL('/api/v4/personal_access_tokens/self', world.sim.url), {
      headers: { 'PRIVATE-TOKEN': credential.old.value },
    });
    expect(used.status).toBe(200);
    const lastUsedAt = defined(world.state.tokens.get(credential.old.id)?.lastUsedAt ?? undefined);
    await handle.executeUpdate(endOverlapNow, { args: [{ requestedBy: 'alice' }] });

    const extended = 'old token still used after the switch: overlap extended once';
    await until(async () => (await handle.query(statusQuery)).alerts.length > 0);
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ phase: 'overlapping' });
    expect(status.timeline.at(-1)?.step).toBe(extended);
    expect(status.alerts).toEqual([
      `old token ${credential.old.id} was used at ${lastUsedAt}, after the targets switched at ` +
        `${status.switchedAt}: something still holds it; overlap extended once, then revoked`,
    ]);
    expect(world.state.isActive(credential.old)).toBe(true);
    // The extension is an ordinary overlap window: an operator may still end it early.
    await handle.executeUpdate(endOverlapNow, { args: [{ requestedBy: 'alice' }] });

    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'rotated', alerts: status.alerts });
    expect(result.timeline.map((entry) => entry.step).slice(-5)).toEqual([
      'overlap window',
      'overlap ended early by alice',
      extended,
      'overlap ended early by alice',
      'revoke old',
    ]);
    expect(world.state.tokens.get(credential.old.id)?.revoked).toBe(true);
    expect(audited('old-still-used').at(-1)).toMatchObject({
      event: 'revoked',
      step: 'revoke old',
      tokenId: String(credential.old.id),
      detail: status.alerts[0],
    });
  });

  it('skips a credential that is not due, and a dry run reports what it would do without changing anything', async () => {
    const credential = defined(seeded[`${prefix}-not-due`]);
    const skipped = await (await start('not-due', { reason: 'scheduled' })).result();
    expect(skipped).toMatchObject({ outcome: 'not-due', phase: 'done' });
    expect(skipped.detail).toMatch(/^not due until /);
    expect(audited('not-due').map((entry) => [entry.event, entry.outcome])).toEqual([
      ['started', 'ok'],
      ['skipped', 'not-due'],
    ]);

    const dry = await (await start('not-due', { force: true, dryRun: true })).result();
    expect(dry.outcome).toBe('dry-run');
    expect(dry.detail).toContain('would rotate project platform/deployer access token');
    expect(dry.detail).toContain('CI variable');
    expect(newTokens(credential)).toEqual([]);
    expect((await current('not-due')).ref.version).toBe(1);
  });

  it('leaves no token value in the audit log, whose chain is intact', async () => {
    const text = readFileSync(auditLog, 'utf8');
    for (const value of [...world.state.minted, world.adminToken.value]) expect(text).not.toContain(value);
    expect(await verifyAuditLog(auditLog, testAuditTrust(auditLog))).toMatchObject({
      ok: true,
      entries: auditEntries(auditLog).length,
    });
  });

  it('leaves no token value in any history, and every history replays deterministically', async () => {
    const histories = await Promise.all(
      [...new Set(started)].map(async (workflowId) => ({
        workflowId,
        history: await client.workflow.getHandle(workflowId).fetchHistory(),
      })),
    );
    expect(histories.length).toBeGreaterThanOrEqual(6);
    const text = histories.map(({ history }) => historyText(history)).join('\n');
    for (const value of [...world.state.minted, world.adminToken.value]) expect(text).not.toContain(value);

    const replays = Worker.runReplayHistories(
      { workflowsPath: require.resolve('../../workflows') },
      histories,
    );
    let replayed = 0;
    for await (const replay of replays) {
      expect(replay.error).toBeUndefined();
      replayed += 1;
    }
    expect(replayed).toBe(histories.length);

    // The folder is named after the release that recorded it: earlier folders stay, and keep replaying.
    const version = process.env.ROTATOR_RECORD_HISTORIES;
    if (version === undefined) return;
    mkdirSync(join(HISTORY_FIXTURES, version), { recursive: true });
    for (const [fixture, name] of Object.entries(FIXTURES)) {
      const workflowId = rotationWorkflowId(`${prefix}-${name}`);
      const { history } = defined(histories.find((recorded) => recorded.workflowId === workflowId));
      writeFileSync(join(HISTORY_FIXTURES, version, `${fixture}.json`), historyToFixture(history));
    }
  });
});
