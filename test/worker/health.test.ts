import { PassThrough } from 'node:stream';
import { freeLoopbackPort } from '../infra/dev-servers';
import { testServers } from '../infra/test-servers';
import { readiness, startHealthServer, vaultCheck, type HealthServer } from '../../src/health';
import { createLogger } from '../../src/logging';

const servers = testServers();
const logger = createLogger('error', new PassThrough());

describe('readiness checks', () => {
  it('finds the test Vault ready, and a Vault nobody listens for down with the reason', async () => {
    const closed = `http://127.0.0.1:${await freeLoopbackPort()}`;
    expect(await readiness([vaultCheck({ address: servers.vault.endpoint })])).toEqual({
      status: 'ready',
      checks: { vault: 'ok' },
      down: [],
    });
    expect(await readiness([vaultCheck({ address: closed })])).toEqual({
      status: 'not ready',
      checks: { vault: expect.stringContaining('ECONNREFUSED') },
      down: ['vault'],
    });
  });
});

describe('the health server', () => {
  let server: HealthServer;
  let vaultUp = true;
  const get = (path: string, method = 'GET') =>
    fetch(`http://127.0.0.1:${server.port}${path}`, { method }).then(async (response) => ({
      status: response.status,
      body: (await response.json()) as unknown,
    }));

  beforeAll(async () => {
    server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      logger,
      checks: [
        { name: 'temporal', check: async () => undefined },
        {
          name: 'vault',
          check: async () => {
            if (!vaultUp) throw new Error('sealed');
          },
        },
      ],
    });
  });

  afterAll(() => server.close());

  it('answers /healthz whatever its dependencies, and /readyz by them', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'alive' } });
    expect(await get('/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
    vaultUp = false;
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'alive' } });
    expect(await get('/readyz')).toEqual({
      status: 503,
      body: { status: 'not ready', checks: { temporal: 'ok', vault: 'sealed' }, down: ['vault'] },
    });
    vaultUp = true;
  });

  it('answers other paths 404 and other methods 405', async () => {
    expect(await get('/metrics')).toMatchObject({ status: 404 });
    expect(await get('/readyz', 'POST')).toMatchObject({ status: 405 });
  });
});
