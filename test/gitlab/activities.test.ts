import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { AuditLogError, type AuditEvent, type AuditSink } from '../../src/audit';
import { fingerprintOf } from '../../src/fingerprint';
import { createCredentialActivities } from '../../activities/credentials';
import type { AccessTokenSpec } from '../../src/gitlab/access-tokens';
import type { CiVariableSpec } from '../../src/gitlab/ci-variables';
import { stagedPath } from '../../src/stores/vault';
import { VaultKvStore } from '../../src/vault';
import { noAudit } from '../helpers/audit';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { defined, gitlabWorld, type GitLabWorld } from './world';
import { vaultSecretOf } from '../../src/stores';

let world: GitLabWorld;
const vault = new VaultKvStore(testServers().vault);
const activities = createCredentialActivities({ vault, audit: noAudit });
const fresh = (what: string) => ({ mount: TEST_KV_MOUNT, path: `gitlab-activities/${what}/${randomUUID()}` });
let connection: { url: string; credential: { mount: string; path: string; key: string } };

beforeAll(async () => {
  world = await gitlabWorld();
  const admin = fresh('admin');
  await vault.write(admin, { token: world.adminToken.value });
  connection = { url: world.sim.url, credential: { ...admin, key: 'token' } };
});
afterAll(() => world.sim.close());

function projectSource(strategy: AccessTokenSpec['strategy']) {
  const name = `deployer-${randomUUID().slice(0, 8)}`;
  const spec: AccessTokenSpec = {
    scope: 'project',
    projectId: world.project.path,
    tokenName: name,
    scopes: ['read_api'],
    accessLevel: 30,
    lifetimeDays: 30,
    strategy,
  };
  const current = world.state.addResourceToken(world.project, 'project', {
    name,
    scopes: ['read_api'],
    expiresAt: '2099-12-31',
    accessLevel: 30,
  });
  return { source: { kind: 'gitlab-project-access-token', connection, spec }, current };
}

describe('credential activities with GitLab and the real Vault', () => {
  it('issueCredential stages the value in Vault before returning, and returns only references', async () => {
    const { source, current } = projectSource('rotate-in-place');
    const stage = { at: fresh('staged'), after: 0 };
    const issued = await activities.issueCredential({
      source,
      current: { tokenId: String(current.id) },
      stage,
    });

    const minted = defined(world.state.tokens.get(Number(issued.tokenId)));
    expect(JSON.stringify(issued)).not.toContain(minted.value);
    expect(JSON.stringify(issued)).not.toContain(fingerprintOf(minted.value));
    expect(issued).toEqual({
      tokenId: String(minted.id),
      expiresAt: minted.expiresAt,
      staged: { mount: stage.at.mount, path: `${stage.at.path}/staged`, version: 1 },
      revokedTokenId: String(current.id),
    });
    expect((await vault.read(defined(vaultSecretOf(issued.staged)), 1)).data).toMatchObject({
      token: minted.value,
      tokenFingerprint: fingerprintOf(minted.value),
    });

    await activities.verifyCredential({
      source,
      tokenId: issued.tokenId,
      staged: issued.staged,
      expiresAt: issued.expiresAt,
    });
    expect((await activities.inspectCredential({ source, tokenId: issued.tokenId })).active).toBe(true);
  });

  it('an issueCredential recovering from a lost answer finds the staged value instead of minting again, as the first try answered it', async () => {
    const { source, current } = projectSource('rotate-in-place');
    const stage = { at: fresh('staged'), after: 0 };
    const first = await activities.issueCredential({
      source,
      current: { tokenId: String(current.id) },
      stage,
    });
    const mintedBefore = world.state.minted.length;

    const again = await activities.issueCredential({
      source,
      current: { tokenId: String(current.id) },
      stage,
      recovery: { orphansRevoked: [] },
    });
    // The same answer, down to the old token it rotated away: the rotation neither revokes it nor rolls back to it.
    expect(again).toEqual(first);
    expect(world.state.minted.length).toBe(mintedBefore);
    // Verify accepts the recovered answer as it accepts the first: it carries no stage check-and-set to refuse.
    await activities.verifyCredential({
      source,
      tokenId: again.tokenId,
      staged: again.staged,
      expiresAt: again.expiresAt,
    });
    expect(
      world.state
        .family(current)
        .filter((t) => world.state.isActive(t))
        .map((t) => String(t.id)),
    ).toEqual([first.tokenId]);
  });

  it('revokes what it minted when Vault refuses the value, and fails without the value', async () => {
    const { source, current } = projectSource('create-then-revoke');
    const at = fresh('taken');
    await vault.write(stagedPath(at), { note: 'written by someone else meanwhile' });

    const error = await activities
      .issueCredential({ source, stage: { at, after: 0 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'VaultError', nonRetryable: true });
    const minted = world.state.tokensNamed(source.spec.tokenName).filter((t) => t.id !== current.id);
    expect(minted).toHaveLength(1);
    expect(minted[0]?.revoked).toBe(true);
    for (const value of world.state.minted) expect((error as Error).message).not.toContain(value);
  });

  it('maps provider errors: 429 retryable after Retry-After, 404 non-retryable', async () => {
    const { source, current } = projectSource('create-then-revoke');
    const route = '/projects/:id/access_tokens/:token_id';
    world.sim.faults.failNth({
      method: 'GET',
      route,
      n: world.sim.callsTotal('GET', route) + 1,
      status: 429,
      retryAfterSeconds: 7,
    });
    await expect(activities.inspectCredential({ source, tokenId: String(current.id) })).rejects.toMatchObject(
      {
        type: 'ProviderError:rate-limited',
        nonRetryable: false,
        nextRetryDelay: 7000,
      },
    );
    await expect(
      activities.revokeCredential({ source, tokenId: String(current.id) }),
    ).resolves.toBeUndefined();
    await expect(
      activities.inspectCredential({
        source: { ...source, spec: { ...source.spec, projectId: 'gone/away' } },
        tokenId: '1',
      }),
    ).rejects.toMatchObject({ type: 'ProviderError:not-found', nonRetryable: true });
  });

  it('finds the orphan a lost mint left behind', async () => {
    const { source, current } = projectSource('create-then-revoke');
    const since = new Date().toISOString();
    const route = '/projects/:id/access_tokens';
    world.sim.faults.dropAfterCommit({ method: 'POST', route, n: world.sim.callsTotal('POST', route) + 1 });
    await expect(
      activities.issueCredential({ source, stage: { at: fresh('lost'), after: 0 } }),
    ).rejects.toMatchObject({
      type: 'ProviderError:transient',
    });
    const orphans = await activities.findOrphanCredentials({ source, since, known: [current.id] });
    expect(orphans).toHaveLength(1);
    await activities.revokeCredential({ source, tokenId: defined(orphans[0]).tokenId });
  });

  it('writes a target from Vault and restores it from the previous version', async () => {
    const key = `DEPLOY_TOKEN_${randomUUID().slice(0, 8).toUpperCase()}`;
    world.state.addVariable(world.project, {
      key,
      value: 'previous-value-123',
      masked: true,
      protected: true,
    });
    const spec: CiVariableSpec = {
      scope: 'project',
      projectId: world.project.id,
      key,
      environmentScope: '*',
      masked: true,
      protected: true,
      variableType: 'env_var',
    };
    const target = { kind: 'gitlab-ci-variable', connection, spec };
    const at = fresh('credential');
    const previous = await vault.write(at, { token: 'previous-value-123' });
    const next = await vault.write(at, { token: 'next-value-4567890' });

    const [snapshot] = await activities.snapshotTargets({ targets: [target] });
    if (snapshot === undefined) throw new Error('no snapshot');
    await activities.writeTarget({ target, value: next });
    expect(world.project.variables.find((v) => v.key === key)?.value).toBe('next-value-4567890');
    await activities.restoreTarget({ target, snapshot, previous });
    expect(world.project.variables.find((v) => v.key === key)?.value).toBe('previous-value-123');
  });

  it('pauses and resumes dependents', async () => {
    const project = world.state.addProject('platform/scheduled');
    world.state.addSchedule(project, { description: 'nightly', active: true, ownerId: world.root.id });
    world.state.addSchedule(project, { description: 'off', active: false, ownerId: world.root.id });
    const dependent = { kind: 'gitlab-pipeline-schedules', connection, spec: { projectId: project.id } };
    const record = await activities.pauseDependent({ dependent });
    expect(project.schedules.map((s) => s.active)).toEqual([false, false]);
    await activities.resumeDependent({ dependent, record });
    expect(project.schedules.map((s) => s.active)).toEqual([true, false]);
  });

  it('refuses an unknown kind for good', async () => {
    await expect(
      activities.snapshotTargets({ targets: [{ kind: 'carrier-pigeon', connection, spec: {} }] }),
    ).rejects.toMatchObject({ type: 'ProviderError:permanent', nonRetryable: true });
  });
});

describe('issueCredential and the audit log', () => {
  const context = { credentialId: 'deployer', step: 'issue', actor: 'alice', reason: 'manual' };
  /** Runs issueCredential in an activity context, with a sink and a logger the test watches. */
  const issueWith = (audit: AuditSink, strategy: AccessTokenSpec['strategy'] = 'create-then-revoke') => {
    const { source, current } = projectSource(strategy);
    const logged: LogEntry[] = [];
    const environment = new MockActivityEnvironment(undefined, {
      logger: new DefaultLogger('WARN', (entry) => logged.push(entry)),
    });
    const issued = environment.run(createCredentialActivities({ vault, audit }).issueCredential, {
      source,
      current: { tokenId: String(current.id) },
      stage: { at: fresh('audited'), after: 0 },
      audit: context,
    });
    const minted = () => world.state.tokensNamed(current.name).filter((token) => token.id !== current.id);
    return { issued, minted, logged };
  };

  it('refuses before minting anything when the audit log cannot take an entry', async () => {
    const broken = new AuditLogError('audit log /var/log/rotator.jsonl is broken at line 3');
    const { issued, minted } = issueWith({
      ready: () => Promise.reject(broken),
      append: () => Promise.reject(broken),
    });
    await expect(issued).rejects.toThrow('is broken at line 3');
    expect(minted()).toEqual([]);
  });

  it('returns the staged reference and warns when only the entry after the mint fails', async () => {
    const events: AuditEvent[] = [];
    const { issued, minted, logged } = issueWith({
      ready: () => Promise.resolve(),
      append: (event) => {
        events.push(event);
        return Promise.reject(new Error('audit disk full'));
      },
    });
    const ref = await issued;
    const fresh = defined(minted()[0]);
    expect(ref).toMatchObject({ tokenId: String(fresh.id), staged: { version: 1 } });
    expect(events.map((event) => event.event)).toEqual(['issued']);
    expect(logged.map(({ level, message }) => [level, message])).toEqual([
      [
        'WARN',
        `issue: token ${fresh.id} is staged, but the audit log did not take its entries: audit disk full`,
      ],
    ]);
    expect(JSON.stringify(logged.map(({ message, meta }) => ({ message, meta })))).not.toContain(fresh.value);
  });
});
