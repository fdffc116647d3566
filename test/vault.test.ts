import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ValidationError } from '../src/validation';
import createVaultClient from 'node-vault';
import { VaultError, VaultKvStore } from '../src/vault';
import { freeLoopbackPort } from './infra/dev-servers';
import { TEST_KV_MOUNT, testServers } from './infra/test-servers';

const secretValue = () => `secret-${randomBytes(16).toString('hex')}`;
const freshPath = () => ({ mount: TEST_KV_MOUNT, path: `vault-adapter/${randomUUID()}` });

describe('VaultKvStore on the real Vault dev server', () => {
  const vault = new VaultKvStore(testServers().vault);

  it('writes versions and reads each one back, or the current one', async () => {
    const at = freshPath();
    const first = await vault.write(at, { token: 'one' });
    const second = await vault.write(at, { token: 'two', note: 'kept' });

    expect(first).toEqual({ ...at, version: 1 });
    expect(second).toEqual({ ...at, version: 2 });
    expect(await vault.read(at, 1)).toEqual({ data: { token: 'one' }, ref: first });
    expect(await vault.read(at)).toEqual({ data: { token: 'two', note: 'kept' }, ref: second });
  });

  it('refuses a write that loses a check-and-set race, without retrying and without the value', async () => {
    const at = freshPath();
    await vault.write(at, { token: 'first' }, { cas: 0 });
    const value = secretValue();

    const error = await vault.write(at, { token: value }, { cas: 0 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(VaultError);
    expect(error).toMatchObject({ status: 400, retryable: false });
    expect((error as Error).message).toMatch(
      new RegExp(`^Vault write ${at.mount}/${at.path} failed: HTTP 400: .*check-and-set`),
    );
    expect((error as Error).message).not.toContain(value);
    expect((await vault.read(at)).data).toEqual({ token: 'first' });
  });

  it('says a version that was never written is missing (404, not retryable)', async () => {
    const at = freshPath();
    await expect(vault.read(at, 7)).rejects.toMatchObject({
      name: 'VaultError',
      status: 404,
      retryable: false,
      message: `Vault read ${at.mount}/${at.path} failed: HTTP 404: no reason given`,
    });
  });

  it('refuses a token without access as denied, naming the path and the status', async () => {
    const stranger = new VaultKvStore({ endpoint: testServers().vault.endpoint, token: 'not-a-token' });
    const at = freshPath();
    await expect(stranger.read(at)).rejects.toMatchObject({
      status: 403,
      retryable: false,
      failure: 'denied',
      message: expect.stringContaining(`Vault read ${at.mount}/${at.path} failed: HTTP 403: `),
    });
  });
});

describe('VaultKvStore when Vault is not there or not Vault', () => {
  it('reports an unreachable Vault as retryable, with neither the value nor the token in the message', async () => {
    const token = `token-${randomBytes(8).toString('hex')}`;
    const endpoint = `http://127.0.0.1:${await freeLoopbackPort()}`;
    const value = secretValue();

    const error = await new VaultKvStore({ endpoint, token })
      .write(freshPath(), { token: value })
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'VaultError', status: undefined, retryable: true });
    expect((error as Error).message).toMatch(/could not be reached \(ECONNREFUSED\)$/);
    expect(JSON.stringify(error)).not.toContain(value);
    expect(JSON.stringify(error)).not.toContain(token);
  });

  describe('an endpoint that answers 200 with something other than Vault JSON', () => {
    let server: Server;
    let endpoint: string;

    beforeAll(async () => {
      server = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ data: { version: 'three' } }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    it('rejects the answer, naming the field that is wrong', async () => {
      const at = freshPath();
      const error = await new VaultKvStore({ endpoint, token: 't' })
        .write(at, { token: 'v' })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues).toEqual([
        'data.version: Invalid input: expected number, received string',
      ]);
      expect((error as Error).message).toContain(`Vault's answer to write ${at.mount}/${at.path} is invalid`);
    });
  });
});

describe('assertKvV2 on the real Vault dev server', () => {
  const { vault: server } = testServers();
  const vault = new VaultKvStore(server);
  const kvV1 = `kv-v1-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    await createVaultClient({ endpoint: server.endpoint, token: server.token }).mount({
      mount_point: kvV1,
      type: 'kv',
      options: { version: '1' },
    });
  });

  it('accepts a KV v2 mount', async () => {
    await expect(vault.assertKvV2(TEST_KV_MOUNT)).resolves.toBeUndefined();
  });

  it('refuses a KV v1 mount, naming it and how to upgrade it', async () => {
    await expect(vault.assertKvV2(kvV1)).rejects.toThrow(
      new VaultError(
        `Vault mount ${kvV1} is KV version 1 (vault kv enable-versioning ${kvV1} upgrades it): ` +
          'the worker needs KV v2 there, for versions and check-and-set',
        undefined,
        false,
      ),
    );
  });

  it('refuses a path that is no mount of its own', async () => {
    await expect(vault.assertKvV2(`${TEST_KV_MOUNT}/inner`)).rejects.toThrow(
      `Vault mount ${TEST_KV_MOUNT}/inner is not a mount but a path inside the mount ${TEST_KV_MOUNT}/`,
    );
    await expect(vault.assertKvV2(`absent-${randomUUID().slice(0, 8)}`)).rejects.toThrow(
      /^Vault mount check of absent-/,
    );
  });
});
