import { GitLabAccessTokens, type AccessTokenSpec } from '../../src/gitlab/access-tokens';
import { GitLabClient } from '../../src/gitlab/client';
import type { SimUser } from '../sim/gitlab/state';
import { defined, gitlabWorld, type GitLabWorld } from './world';

/*
 * What only group service accounts do; the access-token battery (access-tokens.test.ts) runs for them too.
 */

let world: GitLabWorld;
let source: GitLabAccessTokens;
let account: SimUser;

beforeAll(async () => {
  world = await gitlabWorld();
  source = new GitLabAccessTokens(world.admin, () => world.state.now());
  account = world.state.addServiceAccount(world.group);
});
afterAll(() => world.sim.close());

let names = 0;
type ServiceAccountSpec = Extract<AccessTokenSpec, { scope: 'service-account' }>;
function spec(strategy: AccessTokenSpec['strategy'], lifetimeDays = 90): ServiceAccountSpec {
  return {
    scope: 'service-account',
    groupId: world.group.path,
    userId: account.id,
    tokenName: `release-bot-${++names}`,
    scopes: ['read_api'],
    lifetimeDays,
    strategy,
  };
}

const clientOf = (token: string) =>
  new GitLabAccessTokens(new GitLabClient({ url: world.sim.url, token }), () => world.state.now());

it('rotates in place with the lifetime of the spec, not GitLab’s one-week default', async () => {
  const rotated = spec('rotate-in-place', 90);
  const current = world.state.addToken({
    userId: account.id,
    name: rotated.tokenName,
    scopes: rotated.scopes,
    expiresAt: '2099-12-31',
  });
  const issued = await source.issue(rotated, { tokenId: String(current.id) });
  expect(issued.expiresAt).toBe(source.expiryFor(rotated));
  expect(world.state.tokens.get(Number(issued.tokenId))?.expiresAt).toBe(source.expiryFor(rotated));
  expect(issued.revokedTokenId).toBe(String(current.id));
  await source.verify(rotated, issued.value, issued);
});

it('the simulator, like GitLab, gives a rotation without expires_at one week', async () => {
  const token = world.state.addToken({
    userId: account.id,
    name: 'no-expiry-given',
    scopes: ['read_api'],
    expiresAt: '2099-12-31',
  });
  const response = await fetch(
    `${world.sim.url}/api/v4/groups/${world.group.id}/service_accounts/${account.id}/personal_access_tokens/${token.id}/rotate`,
    { method: 'POST', headers: { 'private-token': world.adminToken.value } },
  );
  expect(response.status).toBe(200);
  const week = new Date(world.state.now().getTime() + 7 * 86_400_000).toISOString().slice(0, 10);
  expect(((await response.json()) as { expires_at: string }).expires_at).toBe(week);
});

it('lets the group’s Owner manage its service account’s tokens, and refuses a Maintainer', async () => {
  const owner = world.state.addUser({ username: 'group-owner' });
  world.group.members.set(owner.id, 50);
  const ownerToken = world.state.addToken({
    userId: owner.id,
    name: 'own',
    scopes: ['api'],
    expiresAt: null,
  });
  const asOwner = clientOf(ownerToken.value);
  const created = spec('create-then-revoke');
  const issued = await asOwner.issue(created, undefined);
  expect((await asOwner.inspect(created, issued)).active).toBe(true);
  await asOwner.revoke(created, issued);
  expect(world.state.tokens.get(Number(issued.tokenId))?.revoked).toBe(true);

  const maintainer = world.state.addUser({ username: 'group-maintainer' });
  world.group.members.set(maintainer.id, 40);
  const maintainerToken = world.state.addToken({
    userId: maintainer.id,
    name: 'm',
    scopes: ['api'],
    expiresAt: null,
  });
  await expect(
    clientOf(maintainerToken.value).issue(spec('create-then-revoke'), undefined),
  ).rejects.toMatchObject({
    kind: 'auth',
    status: 403,
  });
});

it('names a service account that is not the group’s, and a token GitLab does not list, as not found', async () => {
  const other = world.state.addGroup('other-group');
  const stranger = world.state.addServiceAccount(other);
  await expect(
    source.issue({ ...spec('create-then-revoke'), userId: stranger.id }, undefined),
  ).rejects.toMatchObject({ kind: 'not-found', status: 404 });
  const missing = await source
    .inspect(spec('create-then-revoke'), { tokenId: '999999' })
    .catch((e: unknown) => e);
  expect(missing).toMatchObject({ kind: 'not-found' });
  expect((missing as Error).message).toMatch(
    /inspect group platform service account \d+ personal access token "release-bot-\d+" \(id 999999\) failed: GitLab lists no such token/,
  );
});

it('an instance service account’s token is a personal access token: the personal scope rotates it', async () => {
  const instanceAccount = world.state.addUser({ username: 'service_account_instance' });
  const current = world.state.addToken({
    userId: instanceAccount.id,
    name: 'instance-bot',
    scopes: ['read_api'],
    expiresAt: '2099-12-31',
  });
  const personal: AccessTokenSpec = {
    scope: 'personal',
    userId: instanceAccount.id,
    tokenName: 'instance-bot',
    scopes: ['read_api'],
    lifetimeDays: 30,
    strategy: 'rotate-in-place',
  };
  const issued = await source.issue(personal, { tokenId: String(current.id) });
  await source.verify(personal, issued.value, issued);
  expect(defined(world.state.tokens.get(Number(issued.tokenId))).userId).toBe(instanceAccount.id);
});
