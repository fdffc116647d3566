import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WorkflowFailedError } from '@temporalio/client';
import { startRotation } from '../../src/rotations';
import { VaultKvStore, type SecretPath } from '../../src/vault';
import { statusQuery } from '../../workflows';
import { defined } from '../gitlab/world';
import { historyText } from '../helpers/history';
import { httpRelay, type HttpRelay } from '../helpers/http-relay';
import { rotationWorld, type RotationWorld } from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { recordMintedValue } from '../infra/secret-scan';
import { testServers } from '../infra/test-servers';
import { seedOAuth2Credential, type OAuth2Credential } from '../oauth2/credential';
import { startAuthorizationServer, type AuthorizationServer } from '../oauth2/server';

const vault = new VaultKvStore(testServers().vault);
const taskQueue = `oauth2-${randomUUID()}`;
let rotation: RotationWorld;
let server: AuthorizationServer;
/** The worker reaches the token endpoint through this relay, which can lose an answer. */
let relay: HttpRelay;
let running: TestWorker;
/** Every token value the server gave anyone in these tests, for the secret scan at the end. */
const seen = new Set<string>();

/** An OAuth2 credential in the inventory the worker reads, its token endpoint behind the relay. */
async function seedOAuth2(name: string): Promise<OAuth2Credential> {
  const credential = await seedOAuth2Credential({
    rotation,
    vault,
    server,
    tokenUrl: `${relay.url}/token`,
    clientSecret: clientSecretAt,
    name,
  });
  rotation.writeInventory();
  return credential;
}

let clientSecretAt: SecretPath;

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  server = await startAuthorizationServer();
  relay = await httpRelay(server.url);
  clientSecretAt = rotation.vaultPath('oauth2-client');
  await vault.write(clientSecretAt, { secret: server.clientSecret });
  running = await rotation.startWorker(taskQueue);
});

afterAll(async () => {
  await running?.stop();
  await relay?.close();
  await server?.close();
  await rotation?.close();
});

const rotate = (credential: OAuth2Credential) =>
  startRotation(running.client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });
/** Vault's current secret, its token values noted for the secret scan. */
async function current(credential: OAuth2Credential) {
  const { data, ref } = await vault.read(credential.vault);
  for (const field of ['token', 'accessToken', 'refreshToken']) {
    const value = data[field];
    if (value !== undefined) {
      seen.add(value);
      recordMintedValue(value);
    }
  }
  return { data, version: ref.version };
}
const variableValue = (credential: OAuth2Credential) =>
  rotation.world.project.variables.find((variable) => variable.key === credential.variable.key)?.value;
const failureOf = async (handle: Awaited<ReturnType<typeof rotate>>) => {
  const error = await handle.result().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  return defined((error as WorkflowFailedError).cause);
};

describe('OAuth2 refresh-token rotation against a real authorization server (oidc-provider)', () => {
  it('rotates five times in a row: each refresh token works once, the targets get each new access token', async () => {
    const credential = await seedOAuth2('chain');
    const used: string[] = [];
    for (let round = 1; round <= 5; round += 1) {
      const before = await current(credential);
      used.push(defined(before.data.refreshToken));
      const result = await (await rotate(credential)).result();

      expect(result).toMatchObject({
        outcome: 'rotated',
        oldTokenId: String(round),
        newTokenId: String(round + 1),
      });
      // The old refresh token died with the grant: nothing to overlap, nothing left to revoke.
      expect(result.timeline.map((entry) => entry.step)).not.toContain('revoke old');
      const after = await current(credential);
      expect(after.version).toBe(before.version + 1);
      expect(after.data).toMatchObject({ tokenId: String(round + 1), token: after.data.accessToken });
      expect(after.data.refreshToken).not.toBe(before.data.refreshToken);
      expect(variableValue(credential)).toBe(after.data.accessToken);
      expect(await server.active(defined(after.data.accessToken))).toBe(true);
    }
    // Each refresh token was consumed by the grant that replaced it.
    for (const refreshToken of used) expect(await server.active(refreshToken)).toBe(false);
    expect(await server.active(defined((await current(credential)).data.refreshToken))).toBe(true);
  });

  /** The grant's answer as another server words it: the relay rewrites the real server's. */
  const rewriteGrant = (change: (answer: Record<string, unknown>) => void) =>
    relay.rewriteAnswerOf(
      (request) => request.url === '/token',
      (body) => {
        const answer = JSON.parse(body) as Record<string, unknown>;
        change(answer);
        return JSON.stringify(answer);
      },
    );

  it.each([
    ['expires_in as a string', (answer: Record<string, unknown>) => (answer.expires_in = '3600')],
    ['no expires_in', (answer: Record<string, unknown>) => delete answer.expires_in],
    ['token_type in lower case', (answer: Record<string, unknown>) => (answer.token_type = 'bearer')],
  ])('rotates on an answer with %s: the new pair staged, verified and promoted', async (what, change) => {
    const credential = await seedOAuth2(`liberal-${what.replace(/[^a-z0-9]+/g, '-')}`);
    const before = await current(credential);
    rewriteGrant(change);
    const result = await (await rotate(credential)).result();

    expect(result).toMatchObject({ outcome: 'rotated', oldTokenId: '1', newTokenId: '2' });
    expect(result.timeline.map((entry) => entry.step)).toEqual(
      expect.arrayContaining(['issue', 'verify', 'promote']),
    );
    const after = await current(credential);
    expect(after.data).toMatchObject({ tokenId: '2', token: after.data.accessToken });
    // No expires_in: no expiry is made up, and policy.every schedules the next rotation.
    expect(after.data.expiresAt === undefined).toBe(what === 'no expires_in');
    expect(await server.active(defined(after.data.refreshToken))).toBe(true);
    expect(await server.active(defined(before.data.refreshToken))).toBe(false);
    expect(variableValue(credential)).toBe(after.data.accessToken);
  });

  it('keeps the tokens of an answer it refuses (token_type N_A): the next rotation goes on from them, never lost', async () => {
    const credential = await seedOAuth2('refused-answer');
    const before = await current(credential);
    rewriteGrant((answer) => (answer.token_type = 'N_A'));
    const handle = await rotate(credential);
    const cause = await failureOf(handle);

    expect(cause.message).toMatch(
      /issue failed \(permanent: .*unexpected answer: fields token_type; its tokens are staged, and the next rotation goes on from them/,
    );
    expect((await handle.query(statusQuery)).outcome).toBe('rolled-back');
    expect(await current(credential)).toEqual(before);
    expect(variableValue(credential)).toBe(before.data.accessToken);
    expect(await server.active(defined(before.data.refreshToken))).toBe(false);

    const result = await (await rotate(credential)).result();
    expect(result).toMatchObject({ outcome: 'rotated', oldTokenId: '1', newTokenId: '2' });
    const after = await current(credential);
    expect(await server.active(defined(after.data.refreshToken))).toBe(true);
    expect(await server.active(defined(after.data.accessToken))).toBe(true);
    expect(variableValue(credential)).toBe(after.data.accessToken);
  });

  it('marks the credential compromised-or-lost when a grant’s answer is lost, leaving every target as it was', async () => {
    const credential = await seedOAuth2('lost');
    const before = await current(credential);
    relay.loseAnswerOf((request) => request.url === '/token');
    const handle = await rotate(credential);
    const cause = await failureOf(handle);

    expect(cause.message).toMatch(
      /issue afresh failed \(permanent: oauth2 refresh client ci-pipelines .* the answer to the last refresh grant was lost \(or a 5xx\)/,
    );
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('compromised-or-lost');
    expect(status.alerts).toEqual([expect.stringContaining('A person must re-authorise')]);
    expect(status.timeline.map((entry) => [entry.step, entry.result])).toEqual(
      expect.arrayContaining([
        ['issue', 'failed'],
        ['find orphans', 'ok'],
        ['issue afresh', 'failed'],
      ]),
    );
    expect(status.failures.map((failure) => failure.class)).toEqual(['lost-response', 'permanent']);
    // Presenting the spent refresh token made the server revoke the chain, the lost pair included.
    expect(await server.active(defined(before.data.refreshToken))).toBe(false);
    expect(await current(credential)).toEqual(before);
    expect(variableValue(credential)).toBe(before.data.accessToken);
    const events = rotation
      .audited({ id: credential.id } as never)
      .map((entry) => [entry.event, entry.outcome]);
    expect(events.at(-1)).toEqual(['failed', 'compromised-or-lost']);
  });

  it('grants once more when the token endpoint answers 503 without granting: the refresh token was not spent, so it rotates', async () => {
    const credential = await seedOAuth2('refused');
    const before = await current(credential);
    relay.refuseNext((request) => request.url === '/token', 503);
    const result = await (await rotate(credential)).result();

    expect(result).toMatchObject({ outcome: 'rotated', oldTokenId: '1', newTokenId: '2' });
    expect(result.failures).toEqual([expect.objectContaining({ step: 'issue', class: 'lost-response' })]);
    expect(result.timeline.map((entry) => entry.step)).toEqual(
      expect.arrayContaining(['issue', 'find orphans', 'issue afresh']),
    );
    const after = await current(credential);
    expect(after.data.refreshToken).not.toBe(before.data.refreshToken);
    expect(variableValue(credential)).toBe(after.data.accessToken);
    expect(await server.active(defined(after.data.refreshToken))).toBe(true);
  });

  it('after a lost grant whose retry was refused, the next rotation calls the spent refresh token lost, not stolen', async () => {
    const credential = await seedOAuth2('lost-then-refused');
    const before = await current(credential);
    // The first grant happens and its answer is lost; the grant once more is refused (503) before the server.
    relay.loseAnswerOf((request) => {
      const grant = request.url === '/token';
      if (grant) relay.refuseNext((again) => again.url === '/token', 503);
      return grant;
    });
    const first = await failureOf(await rotate(credential));
    expect(first.message).toMatch(/issue afresh failed \(lost-response: /);
    expect(await server.active(defined(before.data.refreshToken))).toBe(false);

    const handle = await rotate(credential);
    const cause = await failureOf(handle);
    expect(cause.message).toMatch(/the answer to the last refresh grant was lost \(or a 5xx\)/);
    expect((await handle.query(statusQuery)).outcome).toBe('compromised-or-lost');
    expect(variableValue(credential)).toBe(before.data.accessToken);
  });

  it('treats a refresh token someone else used as stolen: critical alert, our access token revoked', async () => {
    const credential = await seedOAuth2('stolen');
    const before = await current(credential);
    // A copy of the refresh token leaked, and the thief refreshes first.
    const thief = await server.refresh(defined(before.data.refreshToken));
    expect(thief.status).toBe(200);
    for (const value of [thief.body.access_token, thief.body.refresh_token]) seen.add(defined(value));
    const handle = await rotate(credential);
    const cause = await failureOf(handle);

    expect(cause.message).toMatch(/issue failed \(permanent: .*CRITICAL: .*someone else has used it/);
    const status = await handle.query(statusQuery);
    expect(status.outcome).toBe('compromised');
    expect(status.alerts).toEqual([expect.stringContaining('was revoked (RFC 7009)')]);
    expect(await server.active(defined(before.data.accessToken))).toBe(false);
    // The server revoked the whole chain on the reuse: the thief's tokens are dead too.
    expect(await server.active(defined(thief.body.access_token))).toBe(false);
    expect(await server.active(defined(thief.body.refresh_token))).toBe(false);
    expect((await current(credential)).version).toBe(before.version);
    expect(variableValue(credential)).toBe(before.data.accessToken);
  });

  it('leaves no token value or client secret in any history or the audit log', async () => {
    const values = [...seen, server.clientSecret];
    expect(values.length).toBeGreaterThan(10);
    const texts = [readFileSync(rotation.auditLog, 'utf8')];
    for await (const execution of running.client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) {
      texts.push(
        historyText(
          await running.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory(),
        ),
      );
    }
    expect(texts.length).toBeGreaterThanOrEqual(8);
    for (const text of texts) for (const value of values) expect(text).not.toContain(value);
  });
});
