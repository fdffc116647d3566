import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { createLogger, temporalLogger } from '../../src/logging';
import { noteSecretsOf, REDACTED, withSecretScope } from '../../src/redaction';
import type { SecretStore } from '../../src/vault';

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
      { reason: `refused ${a}`, request: { headers: [{ note: `Bearer ${b}` }] } },
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
      request: { headers: [{ note: `Bearer ${REDACTED}` }] },
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
    const store: SecretStore = {
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
});
