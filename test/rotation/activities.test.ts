import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActivities } from '../../activities';
import { decideRotation } from '../../activities/rotation';
import { kindRegistry } from '../../src/kinds/define';
import { CANARIES, CONSUMERS, DEPENDENTS, SOURCES } from '../../src/kinds';
import { gitlabCiVariable } from '../../src/kinds/gitlab-ci-variable';
import { VaultKvStore } from '../../src/vault';
import { noAudit } from '../helpers/audit';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';

const vault = new VaultKvStore(testServers().vault);
const dir = mkdtempSync(join(tmpdir(), 'rotation-activities-'));
const inventoryPath = join(dir, 'rotator.yaml');
const activities = createActivities({ vault, inventoryPath, audit: noAudit });
const fresh = () => ({ mount: TEST_KV_MOUNT, path: `rotation-activities/${randomUUID()}` });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const INVENTORY = `
providers:
  gitlab:
    main: { url: https://gitlab.example.com, credential: { mount: kv-test, path: admin, key: token } }
  github:
    gh: { credential: { mount: kv-test, path: gh, key: token } }
credentials:
  - id: deployer
    description: deploys
    environment: test
    owner: team
    source:
      { kind: gitlab-group-access-token, gitlab: main, group: platform, tokenName: ci, scopes: [read_api],
        accessLevel: maintainer, lifetimeDays: 30, strategy: rotate-in-place }
    vault: { mount: kv-test, path: deployer }
    targets: [{ kind: gitlab-ci-variable, gitlab: main, project: platform/web, key: DEPLOY_TOKEN }]
  - id: to-github
    description: goes to GitHub
    environment: test
    owner: team
    source:
      { kind: gitlab-project-access-token, gitlab: main, project: platform/web, tokenName: gh, scopes: [read_api],
        accessLevel: developer, lifetimeDays: 30 }
    vault: { mount: kv-test, path: to-github }
    targets: [{ kind: github-actions-secret, github: gh, repository: org/web, name: TOKEN }]
`;

describe('loadCredential', () => {
  const request = (credentialId: string) => ({
    credentialId,
    reason: 'manual' as const,
    requestedBy: 'alice',
  });

  it('maps the inventory entry to plain adapter specs with names, and the store it is kept in', async () => {
    writeFileSync(inventoryPath, INVENTORY);
    expect(await activities.loadCredential(request('deployer'))).toEqual({
      credentialId: 'deployer',
      kind: 'gitlab-group-access-token',
      environment: 'test',
      source: {
        name: 'group platform access token "ci"',
        ref: {
          kind: 'gitlab-group-access-token',
          connection: {
            url: 'https://gitlab.example.com',
            credential: { mount: 'kv-test', path: 'admin', key: 'token' },
          },
          spec: {
            scope: 'group',
            groupId: 'platform',
            tokenName: 'ci',
            scopes: ['read_api'],
            lifetimeDays: 30,
            strategy: 'rotate-in-place',
            accessLevel: 40,
          },
        },
      },
      targets: [
        expect.objectContaining({ name: 'project platform/web CI variable DEPLOY_TOKEN (environment *)' }),
      ],
      dependents: [],
      store: { name: 'Vault kv-test/deployer', ref: { mount: 'kv-test', path: 'deployer' } },
      policy: {
        every: 86_400_000,
        jitter: 0,
        overlap: 0,
        requireApproval: false,
        approvalTimeout: 86_400_000,
        breakGlassReview: false,
      },
    });
  });

  it('refuses for good an unknown credential, a kind without an adapter, and an invalid inventory', async () => {
    writeFileSync(inventoryPath, INVENTORY);
    await expect(activities.loadCredential(request('nope'))).rejects.toMatchObject({
      type: 'InventoryError',
      nonRetryable: true,
      message: `load: credential "nope" is not in the inventory (${inventoryPath})`,
    });
    // A worker built without the GitHub adapters, such as one of an older version.
    const gitlabOnly = createActivities({
      vault,
      inventoryPath,
      audit: noAudit,
      providers: kindRegistry({
        sources: SOURCES,
        targets: [gitlabCiVariable],
        dependents: DEPENDENTS,
        consumers: CONSUMERS,
        canaries: CANARIES,
      }),
    });
    await expect(gitlabOnly.loadCredential(request('to-github'))).rejects.toMatchObject({
      type: 'InventoryError',
      message: expect.stringContaining('targets[0]: kind github-actions-secret cannot be rotated yet'),
    });
    writeFileSync(inventoryPath, 'credentials: []\n');
    await expect(activities.loadCredential(request('deployer'))).rejects.toMatchObject({
      type: 'InventoryError',
      message: expect.stringContaining('is invalid: 1:1: credentials: expected at least one credential'),
    });
  });
});

describe('promoteStaged and rePromotePrevious on the real Vault', () => {
  it('promotes with check-and-set, finds its own write on a retry, and refuses to overwrite a change', async () => {
    const current = fresh();
    const staged = { mount: current.mount, path: `${current.path}/staged` };
    const v1 = await vault.write(current, { token: 'old-value-1234', tokenId: '1' });
    const stagedV1 = await vault.write(staged, { token: 'new-value-5678', tokenId: '2' });

    const promoted = await activities.promoteStaged({
      store: current,
      staged: stagedV1,
      replacing: v1,
      tokenId: '2',
    });
    expect(promoted.version).toBe(2);
    expect((await vault.read(current)).data).toEqual({ token: 'new-value-5678', tokenId: '2' });
    expect(
      await activities.promoteStaged({ store: current, staged: stagedV1, replacing: v1, tokenId: '2' }),
    ).toEqual(promoted);

    await vault.write(current, { token: 'someone-else-999', tokenId: '3' });
    const conflict = await activities
      .promoteStaged({ store: current, staged: stagedV1, replacing: promoted, tokenId: '2' })
      .catch((e: unknown) => e);
    expect(conflict).toMatchObject({ type: 'PromoteConflict', nonRetryable: true });
    expect((conflict as Error).message).toBe(
      `promote: Vault ${current.mount}/${current.path} is at v3, not v2 as read at detect: someone else changed it, so it is not overwritten`,
    );
  });

  it('re-promotes the previous version only when the current one is the rotation’s own', async () => {
    const current = fresh();
    const previous = await vault.write(current, { token: 'old-value-1234', tokenId: '1' });
    await vault.write(current, { token: 'new-value-5678', tokenId: '2' });

    expect(
      await activities.rePromotePrevious({ store: current, previous, promotedTokenId: '2' }),
    ).toMatchObject({
      version: 3,
    });
    expect((await vault.read(current)).data).toEqual({ token: 'old-value-1234', tokenId: '1' });
    expect(
      await activities.rePromotePrevious({ store: current, previous, promotedTokenId: '2' }),
    ).toMatchObject({
      version: 3,
    });
  });
});

describe('decideRotation', () => {
  const now = new Date('2026-06-15T00:00:00Z');
  const policy = { every: 7 * 86_400_000, rotateBefore: 3 * 86_400_000 };
  const token = { active: true, revoked: false, createdAt: '2026-06-14T00:00:00Z', expiresAt: '2026-07-14' };
  const decide = (
    request: Partial<Parameters<typeof decideRotation>[0]>,
    changes: Partial<typeof token> = {},
  ) =>
    decideRotation(
      { reason: 'scheduled', requestedBy: 'scheduler', ...request },
      policy,
      { ...token, ...changes },
      now,
    );

  it('skips a young, healthy token, saying when it is due (an hour early, at most 10% of every)', () => {
    expect(decide({})).toEqual({ due: false, why: 'not due until 2026-06-20T23:00:00.000Z (in 6 days)' });
  });

  it('finds due a token a schedule interval old, though its rotation minted it seconds after that one started', () => {
    const hourly = { every: 3_600_000 };
    const lastIssue = '2026-06-14T23:00:05Z';
    const decided = decideRotation(
      { reason: 'scheduled', requestedBy: 'schedule' },
      hourly,
      { ...token, createdAt: lastIssue },
      now,
    );
    expect(decided.due).toBe(true);
    const young = decideRotation(
      { reason: 'scheduled', requestedBy: 'schedule' },
      hourly,
      { ...token, createdAt: '2026-06-14T23:10:00Z' },
      now,
    );
    expect(young.due).toBe(false);
  });

  it('rotates when compromised, forced, dead, expiring within rotateBefore or older than every', () => {
    expect(decide({ reason: 'compromised', requestedBy: 'bob' })).toEqual({
      due: true,
      why: 'reported compromised by bob',
    });
    expect(decide({ force: true, requestedBy: 'bob' })).toEqual({ due: true, why: 'forced by bob' });
    expect(decide({}, { revoked: true }).due).toBe(true);
    expect(decide({}, { expiresAt: '2026-06-17' }).why).toBe(
      'the current token expires 2026-06-17, within policy.rotateBefore',
    );
    expect(decide({}, { createdAt: '2026-06-01T00:00:00Z' }).why).toMatch(
      /^the current token is older than policy.every/,
    );
  });
});
