import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  EncryptionCodec,
  parseCodecKeys,
  randomCodecServerToken,
  startCodecServer,
  type CodecServer,
} from '../../src/codec';
import { runCli } from '../../src/cli';
import { defined } from '../gitlab/world';
import { rotator } from '../helpers/cli';

const KEY = randomBytes(32).toString('base64');
const keys = parseCodecKeys(`k1:${KEY}`, 'ROTATOR_CODEC_KEYS', 'list');
const codec = new EncryptionCodec(keys);
const token = randomCodecServerToken();
const UI = 'http://localhost:8233';
const SECRET = `glpat-${randomBytes(10).toString('hex')}`;
let server: CodecServer;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTP request as a browser or curl would send it; node's fetch would not let a test set Origin. */
function call(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  return new Promise<Reply>((resolve, reject) => {
    const sent = request(
      `${server.url}${path}`,
      {
        method: options.method ?? 'POST',
        headers: { 'Content-Type': 'application/json', ...options.headers },
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    sent.on('error', reject);
    sent.end(options.body);
  });
}

const toJson = (payload: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([key, value]) => [
      key,
      Buffer.from(value).toString('base64'),
    ]),
  ),
  data: Buffer.from(payload.data ?? []).toString('base64'),
});

/** The body the Web UI posts to /decode: one payload this codec encrypted. */
async function encryptedBody(): Promise<string> {
  const encrypted = await codec.encode([defaultPayloadConverter.toPayload({ token: SECRET })]);
  return JSON.stringify({ payloads: encrypted.map(toJson) });
}

/** The values of the payloads a reply holds. */
function values(reply: Reply): unknown[] {
  const { payloads } = JSON.parse(reply.body) as {
    payloads: { metadata: Record<string, string>; data: string }[];
  };
  return payloads.map(({ metadata, data }) =>
    defaultPayloadConverter.fromPayload({
      metadata: Object.fromEntries(
        Object.entries(metadata).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
      ),
      data: Buffer.from(data, 'base64'),
    }),
  );
}

/** Nothing of the plaintext in a refusal, in clear or in base64. */
function expectNoPlaintext(reply: Reply) {
  expect(reply.body).not.toContain(SECRET);
  expect(reply.body).not.toContain('json/plain');
  expect(reply.body).not.toContain(Buffer.from('json/plain').toString('base64'));
}

beforeAll(async () => {
  server = await startCodecServer({ keys, token, uiOrigins: [UI], host: '127.0.0.1', port: 0 });
});

afterAll(() => server?.close());

describe('the codec server', () => {
  it('decodes for a caller with the bearer token', async () => {
    const reply = await call('/decode', {
      headers: { Authorization: `Bearer ${token}`, 'X-Namespace': 'default' },
      body: await encryptedBody(),
    });
    expect(reply.status).toBe(200);
    expect(values(reply)).toEqual([{ token: SECRET }]);
  });

  it('decodes for a caller with the token as path prefix, as the Web UI calls it', async () => {
    const reply = await call(`/${token}/decode`, { headers: { Origin: UI }, body: await encryptedBody() });
    expect(reply.status).toBe(200);
    expect(values(reply)).toEqual([{ token: SECRET }]);
  });

  it('encodes, so the UI can send encrypted signals and queries', async () => {
    const body = JSON.stringify({ payloads: [toJson(defaultPayloadConverter.toPayload({ token: SECRET }))] });
    const reply = await call(`/${token}/encode`, { body });
    expect(reply.status).toBe(200);
    expect(reply.body).not.toContain(Buffer.from(SECRET).toString('base64'));
    const [encrypted] = (JSON.parse(reply.body) as { payloads: { metadata: Record<string, string> }[] })
      .payloads;
    expect(Buffer.from(encrypted?.metadata.encoding ?? '', 'base64').toString()).toBe('binary/encrypted');
  });

  it.each([
    ['no token', '/decode', {}],
    ['a wrong bearer token', '/decode', { Authorization: `Bearer ${randomCodecServerToken()}` }],
    ['a wrong path token', `/${randomCodecServerToken()}/decode`, {}],
    ['a token of another scheme', '/decode', { Authorization: `Basic ${token}` }],
  ])('refuses %s with 401 and decodes nothing', async (_, path, headers) => {
    const reply = await call(path, { headers, body: await encryptedBody() });
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.body)).toEqual({
      error: 'unauthorised: send Authorization: Bearer <token>, or call /<token>/decode',
    });
    expectNoPlaintext(reply);
  });

  it('sends CORS headers to the configured Web UI origin only', async () => {
    const body = await encryptedBody();
    const ui = await call(`/${token}/decode`, { headers: { Origin: UI }, body });
    expect(ui.headers['access-control-allow-origin']).toBe(UI);
    expect(ui.headers['access-control-allow-credentials']).toBe('true');
    const other = await call(`/${token}/decode`, { headers: { Origin: 'http://evil.example' }, body });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it("answers the browser's preflight, which carries no credentials, with the headers the UI sends", async () => {
    const reply = await call(`/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: UI,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-namespace,authorization',
      },
    });
    expect(reply.status).toBe(204);
    expect(reply.headers).toMatchObject({
      'access-control-allow-origin': UI,
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'Content-Type, X-Namespace, Authorization',
      'access-control-allow-methods': 'POST, OPTIONS',
    });
    const elsewhere = await call(`/decode`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.example' },
    });
    expect(elsewhere.headers['access-control-allow-origin']).toBeUndefined();
  });

  it.each([
    ['{}', 'payloads: required: expected array'],
    [
      '{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"not base64!"}]}',
      'payloads[0].data: expected base64',
    ],
    ['{"payloads":[{"metadata":{"encoding":7}}]}', 'payloads[0].metadata.encoding: expected base64'],
    ['payloads', 'the body is not JSON'],
  ])('refuses the malformed body %s with 400 naming the field', async (body, error) => {
    const reply = await call(`/${token}/decode`, { body });
    expect({ status: reply.status, body: JSON.parse(reply.body) as unknown }).toEqual({
      status: 400,
      body: { error },
    });
  });

  it('refuses a body over 4 MiB with 413, before reading it', async () => {
    // Only the headers are sent: the server must answer from Content-Length alone.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.write(
        `POST /${token}/decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${4 * 1024 * 1024 + 1}\r\n\r\n{"payloads":[`,
      );
    });
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(reply).toContain('{"error":"the body exceeds 4194304 bytes"}');
  });

  it('answers a payload of a key it does not have with 422 naming the key, and nothing decoded', async () => {
    const [other] = await new EncryptionCodec(
      parseCodecKeys(`k0:${randomBytes(32).toString('base64')}`, 'ROTATOR_CODEC_KEYS', 'list'),
    ).encode([defaultPayloadConverter.toPayload({ token: SECRET })]);
    const reply = await call(`/${token}/decode`, {
      body: JSON.stringify({ payloads: [toJson(other as Payload)] }),
    });
    expect(reply.status).toBe(422);
    expect(JSON.parse(reply.body)).toEqual({
      error:
        "payload encrypted with key 'k0', which is not among the configured keys ROTATOR_CODEC_KEYS lists: k1",
    });
  });

  it('answers other paths with 404', async () => {
    expect((await call(`/${token}/metrics`)).status).toBe(404);
    expect((await call(`/a/${token}/decode`)).status).toBe(404);
  });
});

describe('rotator codec-server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'codec-server-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${token}\n`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the codec until SIGTERM, printing its address, never the token or a key', async () => {
    const before = new Set(process.listeners('SIGTERM'));
    let stdout = '';
    let stderr = '';
    const running = runCli(
      ['codec-server', '--port', '0', '--token-file', tokenFile],
      { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) },
      { ROTATOR_CODEC_KEYS: `k1:${KEY}` },
    );
    // Listening, the command waits for its signal: its listener is the one that was not there before.
    let stop: (() => void) | undefined;
    for (let attempt = 0; attempt < 100 && stop === undefined; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      stop = process.listeners('SIGTERM').find((listener) => !before.has(listener)) as
        (() => void) | undefined;
    }
    expect(stdout).toMatch(
      /^codec server on http:\/\/127\.0\.0\.1:\d+ for the Web UI at http:\/\/localhost:8233; keys k1 from ROTATOR_CODEC_KEYS \(new payloads: k1\)\n/,
    );
    const url = defined(/^codec server on (\S+) /.exec(stdout)?.[1]);
    const reply = await fetch(`${url}/${token}/decode`, { method: 'POST', body: await encryptedBody() });
    expect(values({ status: reply.status, headers: {}, body: await reply.text() })).toEqual([
      { token: SECRET },
    ]);

    defined(stop)();
    expect({ code: await running, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).not.toContain(token);
    expect(stdout).not.toContain(KEY);
    await expect(fetch(`${url}/${token}/decode`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });

  it.each([
    [
      'without a token',
      ['codec-server'],
      { ROTATOR_CODEC_KEYS: `k1:${KEY}` },
      /^rotator: no token: give --token-file, or set ROTATOR_CODEC_SERVER_TOKEN/,
    ],
    [
      'with a short token',
      ['codec-server'],
      { ROTATOR_CODEC_KEYS: `k1:${KEY}`, ROTATOR_CODEC_SERVER_TOKEN: 'short' },
      /^rotator: ROTATOR_CODEC_SERVER_TOKEN: expected at least 32 characters/,
    ],
    [
      'without keys',
      ['codec-server', '--token-file', tokenFile],
      {},
      /^rotator: no keys to decode with: set ROTATOR_CODEC_KEYS_FILE or ROTATOR_CODEC_KEYS\n$/,
    ],
    [
      'with a UI origin that is no URL',
      ['codec-server', '--token-file', tokenFile, '--ui-origin', 'localhost:8233'],
      { ROTATOR_CODEC_KEYS: `k1:${KEY}` },
      /^rotator: --ui-origin: expected the Web UI URL, such as http:\/\/localhost:8233\n$/,
    ],
  ])('refuses to start %s, with exit 2', async (_, argv, env, error) => {
    const { code, stdout, stderr } = await rotator(argv, env);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toMatch(error);
    expect(stderr).not.toContain(KEY);
  });
});
