import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { MetricMeter } from '@temporalio/common';
import { Command } from 'commander';
import createVaultClient from 'node-vault';
import { FileAuditSink } from '../../src/audit';
import { CliContext } from '../../src/cli/context';
import { registerVaultPolicy } from '../../src/cli/vault-policy';
import { readWorkerEnvironment } from '../../src/config/environment';
import { startServers } from '../../src/embedded/servers';
import { readiness, vaultCheck } from '../../src/health';
import { loadInventory } from '../../src/inventory/load';
import type { Inventory } from '../../src/inventory/schema';
import { createLogger } from '../../src/logging';
import { CredentialFreshness } from '../../src/metrics';
import { startRotation } from '../../src/rotations';
import { VaultError, VaultKvStore } from '../../src/vault';
import { AppRoleSession } from '../../src/vault-auth';
import { rotatorPolicy } from '../../src/vault-policy';
import { auditTrust } from '../../src/worker';
import { TEST_AUDIT_KEY_PATH } from '../helpers/audit';
import { rotationWorld, until, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import { startTestWorker } from '../helpers/worker';
import { vaultFieldOf } from '../../src/stores';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { setUpAppRole, type AppRoleSetup } from './approle';
import { failure } from './failure';

const servers = testServers();
const root = createVaultClient({
  apiVersion: 'v1',
  endpoint: servers.vault.endpoint,
  token: servers.vault.token,
});
const dir = mkdtempSync(join(tmpdir(), 'approle-'));
const secretIdFile = join(dir, 'secret-id');
/** Everything the worker logged, to show that no token or secret id is in it. */
const logged = new PassThrough();
const logLines: string[] = [];
logged.on('data', (chunk: Buffer) => logLines.push(chunk.toString()));
const logger = createLogger('debug', logged);

let rotation: RotationWorld;
let credential: SeededCredential;
let inventory: Inventory;
let appRole: AppRoleSetup;
/** Every secret id and token the tests saw, none of which may appear in a message or log line. */
const secrets: string[] = [];

const login = () =>
  AppRoleSession.start({ endpoint: servers.vault.endpoint, roleId: appRole.roleId, secretIdFile }, logger);
async function putSecretId(): Promise<string> {
  const secretId = await appRole.newSecretId();
  secrets.push(secretId);
  writeFileSync(secretIdFile, `${secretId}\n`);
  return secretId;
}
async function tokenInfo(accessor: string): Promise<{ last_renewal_time: number | null }> {
  const answer = (await root.write('auth/token/lookup-accessor', { accessor })) as {
    data: { last_renewal_time: number | null };
  };
  return answer.data;
}

beforeAll(async () => {
  rotation = await rotationWorld(new VaultKvStore(servers.vault));
  credential = await rotation.seed('approle');
  rotation.writeInventory();
  const loaded = loadInventory(readFileSync(rotation.inventoryPath, 'utf8'));
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  inventory = loaded.inventory;
  // Short TTLs, so that renewal and the login after max TTL happen within a test.
  appRole = await setUpAppRole(
    servers.vault,
    rotatorPolicy(inventory, rotation.inventoryPath, { key: TEST_AUDIT_KEY_PATH }),
    {
      token: '4s',
      max: '8s',
    },
  );
  await putSecretId();
});

afterAll(async () => {
  await rotation?.close();
  rmSync(dir, { recursive: true, force: true });
  const everything = logLines.join('');
  for (const secret of secrets) expect(everything).not.toContain(secret);
});

describe('the worker on Vault with AppRole and the least-privilege policy', () => {
  it('rotates a credential with only the rights the policy grants, logged in as the worker logs in', async () => {
    const env = readWorkerEnvironment({
      TEMPORAL_ADDRESS: servers.temporalAddress,
      VAULT_ADDR: servers.vault.endpoint,
      VAULT_ROLE_ID: appRole.roleId,
      VAULT_SECRET_ID_FILE: secretIdFile,
      ROTATOR_AUDIT_LOG: rotation.auditLog,
    });
    const worker = await startServers(env, inventory, logger);
    const vault = new VaultKvStore({ endpoint: worker.vault.address, token: worker.vault.token });
    const taskQueue = `approle-${randomUUID()}`;
    // The audit key and the anchor, read and written with the worker's own token, as the worker does.
    const running = await startTestWorker({
      taskQueue,
      vault,
      inventoryPath: rotation.inventoryPath,
      audit: new FileAuditSink(rotation.auditLog, await auditTrust(env, vault, false, logger)),
    });
    try {
      secrets.push(await worker.vault.token.current());
      const handle = await startRotation(running.client, taskQueue, {
        credentialId: credential.id,
        reason: 'manual',
        requestedBy: 'alice',
        force: true,
      });
      expect((await handle.result()).outcome).toBe('rotated');
      await rotation.expectRotatedOnce(credential);

      // The readiness check and the freshness metrics read Vault with the same token.
      expect((await readiness([vaultCheck(worker.vault)])).status).toBe('ready');
      const ages: Record<string, number> = {};
      const meter = {
        createGauge: (name: string) => ({
          set: (value: number, tags: { credential_id: string }) => {
            if (name.endsWith('age_seconds')) ages[tags.credential_id] = value;
          },
        }),
      } as unknown as MetricMeter;
      await new CredentialFreshness(meter, () => inventory, worker.vault, logger).refresh();
      expect(ages[credential.id]).toBeGreaterThanOrEqual(0);
    } finally {
      await running.stop();
      await worker.stop();
    }
  });

  it('is denied what the policy does not grant, with the operation and path named', async () => {
    const session = await login();
    try {
      const vault = new VaultKvStore({ endpoint: servers.vault.endpoint, token: session });
      const elsewhere = { mount: TEST_KV_MOUNT, path: `elsewhere/${randomUUID()}` };
      const named = inventory.providers.gitlab.sim?.credential;
      const admin = named === undefined ? undefined : vaultFieldOf(named);
      if (admin === undefined) throw new Error('the inventory names no admin credential in Vault');

      const read = await failure(vault.read(elsewhere));
      const write = await failure(vault.write(elsewhere, { token: 'x' }));
      // The provider's admin token is read-only.
      expect((await vault.read(admin)).data.token).toBeDefined();
      const adminWrite = await failure(vault.write(admin, { token: 'x' }));

      expect(read).toBeInstanceOf(VaultError);
      expect(read).toMatchObject({ status: 403 });
      expect(read.message).toBe(
        `Vault read ${TEST_KV_MOUNT}/${elsewhere.path} failed: HTTP 403: permission denied`,
      );
      expect(write).toMatchObject({ status: 403 });
      expect(write.message).toBe(
        `Vault write ${TEST_KV_MOUNT}/${elsewhere.path} failed: HTTP 403: permission denied`,
      );
      expect(adminWrite).toMatchObject({ status: 403 });
      expect(adminWrite.message).toBe(
        `Vault write ${admin.mount}/${admin.path} failed: HTTP 403: permission denied`,
      );
    } finally {
      await session.close();
    }
  });

  it('renews its token before expiry, and logs in again at the max TTL, reading the replaced secret id file', async () => {
    const session = await login();
    try {
      const vault = new VaultKvStore({ endpoint: servers.vault.endpoint, token: session });
      const first = session.accessor ?? '';
      const loggedInAt = Date.now();
      secrets.push(await session.current());
      await until(async () => (await tokenInfo(first)).last_renewal_time !== null);
      expect((await tokenInfo(first)).last_renewal_time).not.toBeNull();
      expect(session.accessor).toBe(first);

      // An operator replaces the secret id: the next login must read the new one from the file.
      const [old] = secrets.slice(-2);
      await putSecretId();
      await appRole.destroySecretId(old ?? '');
      await until(async () => session.accessor !== first);

      expect(session.accessor).not.toBe(first);
      expect(Date.now() - loggedInAt).toBeLessThan(8_000);
      secrets.push(await session.current());
      await expect(vault.read(credential.vault)).resolves.toMatchObject({ ref: credential.vault });
    } finally {
      await session.close();
    }
  });

  it('logs in again when renewal fails, as when its token was revoked', async () => {
    const session = await login();
    try {
      const revoked = session.accessor ?? '';
      await root.write('auth/token/revoke-accessor', { accessor: revoked });
      await until(async () => session.accessor !== revoked);

      expect(session.accessor).not.toBe(revoked);
      const vault = new VaultKvStore({ endpoint: servers.vault.endpoint, token: session });
      await expect(vault.read(credential.vault)).resolves.toBeDefined();
      expect(logLines.join('')).toContain('cannot renew the Vault token: logging in with AppRole again');
    } finally {
      await session.close();
    }
  });

  it('says which step failed for a wrong secret id, an unreadable file or a wrong role id, never the ids', async () => {
    const wrong = randomUUID();
    writeFileSync(secretIdFile, wrong);
    const env = readWorkerEnvironment({
      TEMPORAL_ADDRESS: servers.temporalAddress,
      VAULT_ADDR: servers.vault.endpoint,
      VAULT_ROLE_ID: appRole.roleId,
      VAULT_SECRET_ID_FILE: secretIdFile,
    });
    const refused = await failure(startServers(env, inventory, logger));
    const wrongRole = await failure(
      AppRoleSession.start({ endpoint: servers.vault.endpoint, roleId: randomUUID(), secretIdFile }, logger),
    );
    const missing = await failure(
      AppRoleSession.start(
        { endpoint: servers.vault.endpoint, roleId: appRole.roleId, secretIdFile: join(dir, 'nothing-here') },
        logger,
      ),
    );
    await putSecretId();

    expect(refused).toBeInstanceOf(VaultError);
    // Vault 1.13 answers a wrong secret id with HTTP 500; later versions with 400.
    expect(refused.message).toMatch(
      /^Vault AppRole login failed: HTTP (400|500): invalid (role or )?secret id/i,
    );
    expect(wrongRole.message).toMatch(/^Vault AppRole login failed: HTTP 400: invalid role/i);
    expect(missing.message).toBe(
      `Vault AppRole login failed: cannot read VAULT_SECRET_ID_FILE ${join(dir, 'nothing-here')} (ENOENT)`,
    );
    for (const error of [refused, wrongRole, missing]) {
      expect(error.message).not.toContain(wrong);
      expect(error.message).not.toContain(appRole.roleId);
      for (const secret of secrets) expect(error.message).not.toContain(secret);
    }
  });
});

describe('the least-privilege policy in the repo', () => {
  /** Runs `rotator vault policy` with the given arguments. */
  async function vaultPolicy(...args: string[]) {
    const out = { stdout: '', stderr: '' };
    const cli = new CliContext(
      { stdout: (text) => (out.stdout += text), stderr: (text) => (out.stderr += text) },
      {},
    );
    const program = new Command('rotator').exitOverride();
    registerVaultPolicy(program, cli);
    await program.parseAsync(['vault', 'policy', ...args], { from: 'user' });
    return { ...out, code: cli.exitCode };
  }

  it('is what `rotator vault policy` makes of examples/rotator.yaml, and Vault takes it', async () => {
    const policy = readFileSync('deploy/vault/rotator-policy.hcl', 'utf8');

    expect(await vaultPolicy('examples/rotator.yaml')).toEqual({ code: 0, stdout: policy, stderr: '' });
    await root.write(`sys/policies/acl/example-${randomUUID().slice(0, 8)}`, { policy });
    // Nothing to list or delete, and no `*` glob: only the audit anchors' folder takes any one name (`+`).
    expect(policy).not.toMatch(/"(list|delete|sudo|patch)"|\*"/);
    expect(policy.match(/\+"/g)).toEqual(['+"']);
    expect(policy).toContain('path "secret/data/cred-rotator/audit-anchors/+" {');
  });

  it('is refused for an invalid inventory, which `rotator config check` explains', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'credentials: []\n');

    expect(await vaultPolicy(broken)).toEqual({
      code: 2,
      stdout: '',
      stderr: `rotator: the inventory ${broken} is invalid (1 error): run \`rotator config check ${broken}\`\n`,
    });
  });
});
