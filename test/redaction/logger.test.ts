import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { createLogger, temporalLogger } from '../../src/logging';
import { noteSecretsOf, REDACTED, withSecretScope } from '../../src/redaction';
import { vaultClient, withToken, type VaultKv } from '../../src/vault';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';

const glpat = () => `glpat-${randomBytes(15).toString('base64url')}`;

/** A logger writing to a stream, and the JSON lines it wrote so far. */
function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const logger = createLogger('info', stream);
  const lines = () => {
    logger.flush();
    return {
      text,
      lines: text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    };
  };
  return { logger, lines };
}

describe('the logger', () => {
  it('removes token-shaped values from the message, printf arguments and fields at any depth', () => {
    const { logger, lines } = capture();
    const [a, b, c, d] = [glpat(), glpat(), glpat(), glpat()];
    logger.info(
      { reason: `refused ${a}`, request: { notes: [{ note: `Bearer ${b}` }] } },
      `wrote ${c} and %s`,
      d,
    );
    const {
      text,
      lines: [line],
    } = lines();
    for (const token of [a, b, c, d]) expect(text).not.toContain(token);
    expect(line).toMatchObject({
      msg: `wrote ${REDACTED} and ${REDACTED}`,
      reason: `refused ${REDACTED}`,
      request: { notes: [{ note: `Bearer ${REDACTED}` }] },
    });
  });

  it('removes them from errors, their causes and stacks, under `err` and under the SDK’s `error`', () => {
    const { logger, lines } = capture();
    const [a, b] = [glpat(), glpat()];
    const error = new Error(`request with ${a} failed`, { cause: new Error(`echo ${b}`) });
    logger.error({ err: error }, 'step failed');
    temporalLogger(logger).warn('activity failed', { error });
    const { text, lines: logged } = lines();
    expect(text).not.toContain(a);
    expect(text).not.toContain(b);
    expect(logged.map((line) => (line.err ?? line.error) as { message: string })).toMatchObject([
      { message: `request with ${REDACTED} failed: echo ${REDACTED}` },
      { message: `request with ${REDACTED} failed: echo ${REDACTED}` },
    ]);
  });

  it('removes what the current activity read from Vault, and still censors secret-named fields', async () => {
    const { logger, lines } = capture();
    const value = randomBytes(24).toString('base64url');
    const store: VaultKv = {
      read: (at) => Promise.resolve({ data: { token: value }, ref: { ...at, version: 1 } }),
      write: () => Promise.reject(new Error('not used')),
      writtenAt: () => Promise.reject(new Error('not used')),
      assertKvV2: () => Promise.reject(new Error('not used')),
    };
    await withSecretScope(async () => {
      await noteSecretsOf(store).read({ mount: 'kv', path: 'a' });
      logger.warn({ detail: `provider echoed ${value}`, token: 'short' }, `echo: ${value}`);
    });
    const {
      text,
      lines: [line],
    } = lines();
    expect(text).not.toContain(value);
    expect(line).toMatchObject({
      msg: `echo: ${REDACTED}`,
      detail: `provider echoed ${REDACTED}`,
      token: REDACTED,
    });
  });

  it('logs an `error` field that is no error object as a field, and an error without a message, without throwing', () => {
    const { logger, lines } = capture();
    const token = `glpat-${'x'.repeat(20)}`;
    logger.warn({ error: `refused ${token}` }, 'a string under error');
    logger.warn({ err: { code: 'EPIPE' } }, 'an error-like object without a message');
    const [text, object] = lines().lines;
    expect(text).toMatchObject({ error: `refused ${REDACTED}`, msg: 'a string under error' });
    expect(object).toMatchObject({ err: { code: 'EPIPE', message: '' } });
    expect(JSON.stringify(lines().lines)).not.toContain(token);
  });

  it('leaves ordinary lines as they were', () => {
    const { logger, lines } = capture();
    const fields = {
      credentialId: 'group/app',
      version: '1.24.0',
      workflowId: 'rotate-4d1e0f9c-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
    };
    logger.child({ worker: 'w1' }).info(fields, 'rotation of group/app started');
    expect(lines().lines[0]).toMatchObject({ ...fields, worker: 'w1', msg: 'rotation of group/app started' });
  });

  it('logs a library’s error (axios, from node-vault) as its name, message, code and status: no request, headers or body', async () => {
    const { logger, lines } = capture();
    const token = randomBytes(24).toString('base64url');
    const value = randomBytes(24).toString('base64url');
    // The real test Vault, spoken to in TLS, which it does not serve: axios fails with the whole request
    // (X-Vault-Token header, JSON body) on its error.
    const endpoint = testServers().vault.endpoint.replace(/^http:/, 'https:');
    const error = await vaultClient(endpoint, undefined)
      .write(`${TEST_KV_MOUNT}/data/logger`, { data: { token: value } }, withToken(token))
      .catch((e: unknown) => e as Error & { config?: unknown });
    expect(error.config).toBeDefined();
    expect(JSON.stringify(error.config)).toContain(token);
    logger.error({ err: error }, 'Vault write failed');
    temporalLogger(logger).warn('activity failed', { error });
    const { text, lines: logged } = lines();
    expect(text).not.toContain(token);
    expect(text).not.toContain(value);
    for (const line of logged) {
      const serialised = (line.err ?? line.error) as Record<string, unknown>;
      expect(Object.keys(serialised).sort()).toEqual(['code', 'message', 'stack', 'type']);
      expect(serialised).toMatchObject({ type: 'AxiosError', code: expect.any(String) });
    }
  });

  it('censors headers and authorization, X-Vault-Token and Private-Token fields at any depth, in any case', () => {
    const { logger, lines } = capture();
    const [a, b, c, d] = [0, 1, 2, 3].map(() => randomBytes(24).toString('base64url'));
    logger.info(
      {
        call: {
          request: { headers: { accept: 'application/json', 'X-Vault-Token': a } },
          retry: { options: { 'PRIVATE-TOKEN': b, Authorization: `Bearer ${c}` } },
        },
        'x-vault-token': d,
      },
      'call',
    );
    const {
      text,
      lines: [line],
    } = lines();
    for (const secret of [a, b, c, d]) expect(text).not.toContain(secret);
    expect(line).toMatchObject({
      call: {
        request: { headers: REDACTED },
        retry: { options: { 'PRIVATE-TOKEN': REDACTED, Authorization: REDACTED } },
      },
      'x-vault-token': REDACTED,
    });
  });
});
