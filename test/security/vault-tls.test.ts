import { randomBytes, randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readWorkerEnvironment } from '../../src/config/environment';
import { startServers } from '../../src/embedded/servers';
import { readiness, vaultCheck } from '../../src/health';
import type { Inventory } from '../../src/inventory/schema';
import { createLogger } from '../../src/logging';
import { VaultError, VaultKvStore } from '../../src/vault';
import { AppRoleSession } from '../../src/vault-auth';
import { testServers } from '../infra/test-servers';
import { certificateFolder, type ThrowawayCa } from './certificates';
import { setUpAppRole } from './approle';
import { failure } from './failure';
import { startTlsVault, type TlsVault } from './vault-tls-server';

const certs = certificateFolder();
const logger = createLogger('error');
let ca: ThrowawayCa;
let otherCa: ThrowawayCa;
let vault: TlsVault;

beforeAll(async () => {
  ca = certs.ca('vault-ca');
  otherCa = certs.ca('other-ca');
  const server = ca.issue('vault-server', { dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  vault = await startTlsVault(testServers().binaries.vault, certs.dir, server, ca.cert);
});

afterAll(async () => {
  await vault?.stop();
  certs.remove();
});

const secret = () => ({ mount: 'secret', path: `tls/${randomUUID()}` });

describe('TLS to Vault with a CA file (VAULT_CACERT)', () => {
  it('reads and writes over TLS when the CA that signed the server certificate is given', async () => {
    const store = new VaultKvStore({ endpoint: vault.endpoint, token: vault.rootToken, caCert: ca.cert });
    const value = `v-${randomBytes(8).toString('hex')}`;
    const at = await store.write(secret(), { token: value });

    await expect(store.read(at)).resolves.toMatchObject({ data: { token: value } });
    expect(await readiness([vaultCheck({ address: vault.endpoint, caCert: ca.cert })])).toMatchObject({
      status: 'ready',
    });
  });

  it('keeps its TLS connection open between calls: one connection for a write and five reads', async () => {
    // A TCP relay in front of Vault counts the connections the client opens; TLS passes through it untouched.
    const opened: Socket[] = [];
    const relay = createServer((client) => {
      opened.push(client);
      const upstream = connect(Number(new URL(vault.endpoint).port), '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const { port } = relay.address() as AddressInfo;
    try {
      const endpoint = `https://127.0.0.1:${port}`;
      const store = new VaultKvStore({ endpoint, token: vault.rootToken, caCert: ca.cert });
      const at = await store.write(secret(), { token: 'x' });
      for (let read = 0; read < 5; read += 1) await store.read(at);
    } finally {
      for (const socket of opened) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    }
    expect(opened.length).toBe(1);
  });

  it('takes VAULT_CACERT from the worker environment', async () => {
    const env = readWorkerEnvironment({
      TEMPORAL_ADDRESS: testServers().temporalAddress,
      VAULT_ADDR: vault.endpoint,
      VAULT_TOKEN: vault.rootToken,
      VAULT_CACERT: ca.certFile,
    });
    // With both servers named, nothing is embedded, so no inventory is read.
    const servers = await startServers(env, {} as Inventory, logger);
    try {
      const store = new VaultKvStore({
        endpoint: servers.vault.address,
        token: servers.vault.token,
        caCert: servers.vault.caCert,
      });
      await expect(store.write(secret(), { token: 'x' })).resolves.toMatchObject({ version: 1 });
    } finally {
      await servers.stop();
    }
  });

  it('logs in with AppRole over TLS and uses the session token', async () => {
    const appRole = await setUpAppRole(
      { endpoint: vault.endpoint, token: vault.rootToken, caCert: ca.cert },
      // The readiness check looks the token up; rotatorPolicy() grants the same.
      'path "secret/data/tls/*" {\n  capabilities = ["create", "read", "update"]\n}\n' +
        'path "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n',
      { token: '1m', max: '5m' },
    );
    const secretIdFile = join(certs.dir, 'approle-secret-id');
    writeFileSync(secretIdFile, await appRole.newSecretId());
    const session = await AppRoleSession.start(
      { endpoint: vault.endpoint, caCert: ca.cert, roleId: appRole.roleId, secretIdFile },
      logger,
    );
    try {
      const store = new VaultKvStore({ endpoint: vault.endpoint, token: session, caCert: ca.cert });
      await expect(store.write(secret(), { token: 'x' })).resolves.toMatchObject({ version: 1 });
      expect(
        await readiness([vaultCheck({ address: vault.endpoint, caCert: ca.cert, token: session })]),
      ).toMatchObject({ status: 'ready' });
    } finally {
      await session.close();
    }
  });

  it('refuses a server its CA did not sign, with a clear error that holds no token', async () => {
    const store = new VaultKvStore({
      endpoint: vault.endpoint,
      token: vault.rootToken,
      caCert: otherCa.cert,
    });
    const error = await failure(store.read(secret()));
    // Without VAULT_CACERT the system's CAs apply, which know nothing of a throwaway CA either.
    const system = await failure(
      new VaultKvStore({ endpoint: vault.endpoint, token: vault.rootToken }).read(secret()),
    );
    const secretIdFile = join(certs.dir, 'secret-id');
    writeFileSync(secretIdFile, 'a-secret-id');
    const login = await failure(
      AppRoleSession.start(
        { endpoint: vault.endpoint, caCert: otherCa.cert, roleId: 'a-role-id', secretIdFile },
        logger,
      ),
    );

    expect(error).toBeInstanceOf(VaultError);
    expect(error.message).toMatch(
      new RegExp(
        `^Vault read secret/tls/[^ ]+ failed: the TLS certificate of Vault at ${vault.endpoint} is not trusted ` +
          '\\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\)',
      ),
    );
    expect(system.message).toContain('is not trusted');
    expect(login.message).toMatch(
      /^Vault AppRole login failed: the TLS certificate of Vault at .* is not trusted/,
    );
    for (const failure of [error, system, login]) {
      expect(failure.message).not.toContain(vault.rootToken);
      expect(failure.message).not.toContain('a-secret-id');
      expect(failure.message).not.toContain('a-role-id');
    }
    expect((await readiness([vaultCheck({ address: vault.endpoint, caCert: otherCa.cert })])).down).toEqual([
      'vault',
    ]);
  });
});
