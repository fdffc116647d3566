import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { defaultPayloadConverter } from '@temporalio/common';
import { z } from 'zod';
import { EncryptionCodec, parseCodecKeys } from '../../src/codec';
import { readWorkerEnvironment } from '../../src/config/environment';
import { startServers, type Servers } from '../../src/embedded/servers';
import { loadInventory } from '../../src/inventory/load';
import { createLogger } from '../../src/logging';
import { freeLoopbackPort } from '../infra/dev-servers';
import { testServers } from '../infra/test-servers';

const { binaries, vault } = testServers();
const KEYS = `k1:${randomBytes(32).toString('base64')}`;
const dir = mkdtempSync(join(tmpdir(), 'codec-embedded-'));
const SECRET = `glpat-${randomBytes(10).toString('hex')}`;
let servers: Servers | undefined;
let uiPort: number;
let codecPort: number;
let log = '';
const saved = { TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH, VAULT_BIN: process.env.VAULT_BIN };

beforeAll(async () => {
  // The binaries the run built: startServers finds them through these, as `npm start` would.
  process.env.TEMPORAL_CLI_PATH = binaries.temporalCli;
  process.env.VAULT_BIN = binaries.vault;
  uiPort = await freeLoopbackPort();
  codecPort = await freeLoopbackPort();
  // Only Temporal is embedded: the run's Vault stands in for one elsewhere.
  const env = readWorkerEnvironment({
    VAULT_ADDR: vault.endpoint,
    VAULT_TOKEN: vault.token,
    ROTATOR_DATA_DIR: join(dir, 'data'),
    ROTATOR_EMBEDDED_TEMPORAL_PORT: String(await freeLoopbackPort()),
    ROTATOR_EMBEDDED_UI_PORT: String(uiPort),
    ROTATOR_CODEC_SERVER_PORT: String(codecPort),
    ROTATOR_CODEC_KEYS: KEYS,
  });
  const output = new PassThrough();
  output.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const loaded = loadInventory(readFileSync(join(__dirname, '../../examples/sandbox.yaml'), 'utf8'));
  if (!loaded.ok) throw new Error('the sandbox inventory is invalid');
  servers = await startServers(env, loaded.inventory, createLogger('info', output), env.codec.keys);
});

afterAll(async () => {
  await servers?.stop();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) Reflect.deleteProperty(process.env, name);
    else process.env[name] = value;
  }
  rmSync(dir, { recursive: true, force: true });
});

const settings = z.object({ Codec: z.object({ Endpoint: z.string() }) });

describe('npm start with embedded Temporal and codec keys', () => {
  it("starts a codec server and gives its endpoint, token included, to the dev server's Web UI", async () => {
    const ui = `http://localhost:${uiPort}`;
    const { Codec } = settings.parse(
      await (await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`)).json(),
    );
    expect(Codec.Endpoint).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${codecPort}/[A-Za-z0-9_-]{43}$`));
    const token = Codec.Endpoint.split('/').at(-1) ?? '';

    // What the browser does on a workflow's page: decode through that endpoint, from the UI's origin.
    const [encrypted] = await new EncryptionCodec(parseCodecKeys(KEYS, 'ROTATOR_CODEC_KEYS', 'list')).encode([
      defaultPayloadConverter.toPayload({ token: SECRET }),
    ]);
    const body = JSON.stringify({
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(encrypted?.metadata ?? {}).map(([key, value]) => [
              key,
              Buffer.from(value).toString('base64'),
            ]),
          ),
          data: Buffer.from(encrypted?.data ?? []).toString('base64'),
        },
      ],
    });
    const reply = await fetch(`${Codec.Endpoint}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: ui },
      body,
    });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('access-control-allow-origin')).toBe(ui);
    expect(
      Buffer.from(
        ((await reply.json()) as { payloads: { data: string }[] }).payloads[0]?.data ?? '',
        'base64',
      ).toString(),
    ).toContain(SECRET);
    const refused = await fetch(`http://127.0.0.1:${codecPort}/decode`, { method: 'POST', body });
    expect(refused.status).toBe(401);

    // The log names the codec server, never its token.
    expect(log).toContain(`payload codec server for the Web UI on http://127.0.0.1:${codecPort}`);
    expect(log).not.toContain(token);
  });
});
