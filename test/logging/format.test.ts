import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { readLogSettings, readWorkerEnvironment } from '../../src/config/environment';
import { createLogger, type LoggerOptions, type LogLevel } from '../../src/logging';
import { noteSecrets, REDACTED, withSecretScope } from '../../src/redaction';
import { ValidationError } from '../../src/validation';

const glpat = () => `glpat-${randomBytes(15).toString('base64url')}`;

/** A logger writing to a stream that says it is a terminal or not, and the text written so far. */
function capture(level: LogLevel, options: LoggerOptions & { terminal?: boolean } = {}) {
  const stream = Object.assign(new PassThrough(), { isTTY: options.terminal ?? false });
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const logger = createLogger(level, stream, options);
  return {
    logger,
    text: () => {
      logger.flush();
      return text;
    },
  };
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

function refusal(read: () => unknown): string[] {
  try {
    read();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected the settings to be refused');
}

describe('readable log lines', () => {
  it('redact a token-shaped value, a noted secret and a secret-named field exactly as JSON lines do', async () => {
    const json = capture('info', { format: 'json' });
    const pretty = capture('info', { format: 'pretty' });
    const token = glpat();
    const noted = randomBytes(24).toString('base64url');
    await withSecretScope(async () => {
      noteSecrets(noted);
      for (const { logger } of [json, pretty])
        logger.warn(
          { detail: `provider echoed ${noted}`, request: { note: `Bearer ${token}` }, password: 'hunter2' },
          `refused ${token}`,
        );
    });
    const [record] = jsonLines(json.text());
    expect(record).toMatchObject({
      msg: `refused ${REDACTED}`,
      detail: `provider echoed ${REDACTED}`,
      request: { note: `Bearer ${REDACTED}` },
      password: REDACTED,
    });
    const line = pretty.text();
    for (const secret of [token, noted, 'hunter2']) expect(line).not.toContain(secret);
    expect(line).toMatch(
      new RegExp(
        String.raw`^\d\d:\d\d:\d\d\.\d{3}Z WARN  refused \[redacted\] ` +
          String.raw`detail="provider echoed \[redacted\]" request={"note":"Bearer \[redacted\]"} password=\[redacted\]\n$`,
      ),
    );
  });

  it('show an error as its type and message, without its stack below debug, and with it at debug', () => {
    const error = Object.assign(new Error('write refused', { cause: new Error('HTTP 403') }), {
      code: 'E403',
    });
    const info = capture('info', { format: 'pretty' });
    info.logger.warn({ error }, 'activity failed');
    expect(info.text()).toMatch(
      / WARN {2}activity failed error="Error: write refused: HTTP 403" error\.code=E403\n$/,
    );
    expect(info.text()).not.toContain(' at ');

    const debug = capture('debug', { format: 'pretty' });
    debug.logger.warn({ error }, 'activity failed');
    const [line, ...stack] = debug.text().trimEnd().split('\n');
    expect(line).toMatch(/error="Error: write refused: HTTP 403" error\.code=E403$/);
    expect(stack[0]).toBe('    Error: write refused');
    expect(stack).toContainEqual(expect.stringMatching(/^ {4}caused by: Error: HTTP 403$/));
  });

  it('keep one event on one line, control characters escaped', () => {
    const { logger, text } = capture('info', { format: 'pretty' });
    logger.info({ reply: 'a\u001b[2Jb' }, 'first\nsecond');
    expect(text()).toMatch(/ INFO {2}first\\nsecond reply="a\\u001b\[2Jb"\n$/);
  });
});

describe('the log format', () => {
  it('is readable on a terminal and JSON otherwise, unless LOG_FORMAT says which', () => {
    const formats = [
      [undefined, true],
      [undefined, false],
      ['json', true],
      ['pretty', false],
    ] as const;
    const written = formats.map(([LOG_FORMAT, terminal]) => {
      const { format } = readLogSettings({ LOG_FORMAT });
      const { logger, text } = capture('info', { format, terminal });
      logger.info({ credentialId: 'group/app' }, 'rotation started');
      logger.info('rotation ended');
      return text();
    });
    const readable =
      /^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}rotation started credentialId=group\/app\n.* INFO {2}rotation ended\n$/;
    expect(written[0]).toMatch(readable);
    expect(written[3]).toMatch(readable);
    for (const text of [written[1], written[2]]) {
      expect(text?.endsWith('\n')).toBe(true);
      expect(jsonLines(text ?? '')).toMatchObject([
        { level: 'info', credentialId: 'group/app', msg: 'rotation started' },
        { level: 'info', msg: 'rotation ended' },
      ]);
    }
  });

  it('is the worker’s LOG_FORMAT, and a bad one is refused naming the variable', () => {
    expect(readWorkerEnvironment({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
    const expected = ['LOG_FORMAT: Invalid option: expected one of "json"|"pretty"'];
    expect(refusal(() => readWorkerEnvironment({ LOG_FORMAT: 'yaml' }))).toEqual(expected);
    expect(refusal(() => readLogSettings({ LOG_FORMAT: 'yaml' }))).toEqual(expected);
  });

  it('drops stacks from JSON lines too when asked to keep them for debug only, as the sandbox does', () => {
    const { logger, text } = capture('info', { format: 'json', stacks: 'debug' });
    logger.warn({ error: new Error('staged fault') }, 'activity failed');
    expect(jsonLines(text())).toMatchObject([{ error: { type: 'Error', message: 'staged fault' } }]);
    expect(text()).not.toContain('stack');
  });
});
