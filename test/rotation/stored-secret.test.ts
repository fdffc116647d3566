import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { createActivities } from '../../activities';
import { fingerprintOf } from '../../src/fingerprint';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import { statusQuery } from '../../workflows';
import { defined } from '../gitlab/world';
import { noAudit } from '../helpers/audit';
import { rotationWorld, type RotationWorld } from '../helpers/rotation';
import type { TestWorker } from '../helpers/worker';
import { recordMintedValue } from '../infra/secret-scan';
import { testServers } from '../infra/test-servers';
import { seedOAuth2Credential } from '../oauth2/credential';
import { startAuthorizationServer, type AuthorizationServer } from '../oauth2/server';
import { vaultSecretOf } from '../../src/stores';
import { stagedPath } from '../../src/stores/vault';

/*
 * What the rotation does with the secret it finds in Vault: fields it does not write are carried
 * over, a token field with a stray newline is refused before any provider call, and a value a masked GitLab
 * variable cannot hold is found before any target is written.
 */
const vault = new VaultKvStore(testServers().vault);
const taskQueue = `stored-secret-${randomUUID()}`;
let rotation: RotationWorld;
let server: AuthorizationServer;
let running: TestWorker;

beforeAll(async () => {
  rotation = await rotationWorld(vault);
  server = await startAuthorizationServer();
  running = await rotation.startWorker(taskQueue);
});

afterAll(async () => {
  await running?.stop();
  await server?.close();
  await rotation?.close();
});

const rotate = async (credentialId: string) =>
  startRotation(running.client, taskQueue, {
    credentialId,
    reason: 'manual',
    requestedBy: 'alice',
    force: true,
  });

/** Vault's current secret, its token values noted for the secret scan. */
async function current(at: { mount: string; path: string }) {
  const { data, ref } = await vault.read(at);
  for (const field of ['token', 'accessToken', 'refreshToken']) {
    if (data[field] !== undefined) recordMintedValue(data[field]);
  }
  return { data, version: ref.version };
}

/** An OAuth2 credential whose client secret sits in its own Vault secret, beside the rotated fields. */
async function oauth2WithClientSecretInside(name: string) {
  const at = rotation.vaultPath(name);
  const credential = await seedOAuth2Credential({
    rotation,
    vault,
    server,
    tokenUrl: `${server.url}/token`,
    clientSecret: at,
    name,
  });
  const { data } = await current(at);
  await vault.write(at, { ...data, secret: server.clientSecret });
  rotation.writeInventory();
  return credential;
}

describe('the secret a rotation finds in Vault', () => {
  it('keeps the fields a GitLab rotation does not write, such as an operator’s note', async () => {
    const credential = await rotation.seed('noted');
    const { data } = await current(credential.vault);
    await vault.write(credential.vault, { ...data, note: 'ask team-ci before revoking' });
    rotation.writeInventory();

    expect(await (await rotate(credential.id)).result()).toMatchObject({ outcome: 'rotated' });

    const fresh = defined(rotation.newTokens(credential)[0]);
    expect((await current(credential.vault)).data).toEqual({
      token: fresh.value,
      tokenFingerprint: fingerprintOf(fresh.value),
      tokenId: String(fresh.id),
      expiresAt: expect.any(String),
      note: 'ask team-ci before revoking',
    });
  });

  it('keeps an OAuth2 client secret stored beside the refresh token, so the second rotation works too', async () => {
    const credential = await oauth2WithClientSecretInside('inside');
    for (let round = 1; round <= 2; round += 1) {
      expect(await (await rotate(credential.id)).result()).toMatchObject({
        outcome: 'rotated',
        newTokenId: String(round + 1),
      });
      expect((await current(credential.vault)).data.secret).toBe(server.clientSecret);
    }
  });

  it('refuses a refresh token with a trailing newline before the grant: no alert, nothing revoked or spent', async () => {
    const credential = await oauth2WithClientSecretInside('newline');
    const before = await current(credential.vault);
    // What `vault kv put refreshToken=@file` stores from a file that ends in a newline.
    await vault.write(credential.vault, {
      ...before.data,
      refreshToken: `${defined(before.data.refreshToken)}\n`,
    });

    const handle = await rotate(credential.id);
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const message = defined((error as WorkflowFailedError).cause).message;

    expect(message).toContain(
      `Vault ${credential.vault.mount}/${credential.vault.path} v${before.version + 1} is invalid:\n` +
        '  field refreshToken holds whitespace or a control character (such as the trailing newline that ' +
        '`vault kv put field=@file` keeps): write it again without',
    );
    expect(message).not.toContain(defined(before.data.refreshToken));
    const status = await handle.query(statusQuery);
    expect(status.outcome).not.toMatch(/compromised/);
    expect(status.alerts).toEqual([]);
    // The grant was never made: the access token still works and the refresh token is not spent.
    expect(await server.active(defined(before.data.accessToken))).toBe(true);
    expect(await server.active(defined(before.data.refreshToken))).toBe(true);
  });
});

describe('a new value a masked GitLab variable cannot hold', () => {
  // GitLab masks only the Base64 alphabet and "@:.~-_": "!" and "$" are outside it.
  const unmaskable = `glpat-${randomUUID().replace(/-/g, '').slice(0, 20)}!$`;
  recordMintedValue(unmaskable);

  /** A credential seeded with a masked variable, and the unmaskable value staged as its next token. */
  async function stagedUnmaskable(name: string) {
    const credential = await rotation.seed(name);
    rotation.writeInventory();
    const activities = createActivities({ vault, inventoryPath: rotation.inventoryPath, audit: noAudit });
    const plan = await activities.loadCredential({
      credentialId: credential.id,
      reason: 'manual',
      requestedBy: 'alice',
    });
    const staged = await vault.write(stagedPath(defined(vaultSecretOf(plan.store.ref))), {
      token: unmaskable,
      tokenId: '999',
      expiresAt: '2099-12-31',
    });
    return { credential, activities, plan, staged };
  }

  it('fails verify before any target is written, naming the variable, never the value', async () => {
    const { credential, activities, plan, staged } = await stagedUnmaskable('unmaskable');

    const refused = await activities
      .verifyCredential({
        source: plan.source.ref,
        tokenId: '999',
        staged,
        expiresAt: '2099-12-31',
        targets: plan.targets.map(({ ref }) => ref),
      })
      .catch((e: unknown) => e);

    const variable = defined(credential.variables[0]);
    expect(refused).toMatchObject({
      type: 'ProviderError:permanent',
      nonRetryable: true,
      message:
        `gitlab-ci-variable verify new token 999 failed: project ${rotation.world.project.path} CI variable ` +
        `${variable.key} (environment *) is masked, and GitLab cannot mask the new value: masking needs at ` +
        'least 8 characters, all from the Base64 alphabet or "@:.~-_"',
    });
    expect((refused as Error).message).not.toContain(unmaskable);
    expect(rotation.targetValues(credential)).toEqual([credential.old.value]);
  });

  it('is refused by the simulator as GitLab refuses it: 400, value is invalid', async () => {
    const { credential, activities, plan, staged } = await stagedUnmaskable('sim-refuses');

    await expect(
      activities.writeTarget({ target: defined(plan.targets[0]).ref, value: staged }),
    ).rejects.toMatchObject({ message: expect.stringContaining('HTTP 400') });
    expect(rotation.targetValues(credential)).toEqual([credential.old.value]);
  });
});
