import type { WriteStream } from 'node:tty';
import type { Logger as PinoLogger } from 'pino';
import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { pinoLibrary } from './on-first-use';
import { REDACTED, redactSecrets } from './redaction';

export type Logger = PinoLogger;
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
/** JSON lines for machines (log shippers), or readable lines for a terminal. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  /** Unset: readable lines when the destination is a terminal, JSON lines otherwise. */
  format?: LogFormat;
  /** When errors keep their stack: always, or at `debug` and `trace` only; unset: always in JSON, else at debug. */
  stacks?: 'always' | 'debug';
}

/**
 * Fields that may hold a secret, censored whole wherever they appear, whatever their case. Nothing the worker
 * logs should carry a value at all; this is the net under that rule, for metadata the SDK or a library adds
 * (a request's `headers`, with `Authorization`, `X-Vault-Token` or GitLab's `Private-Token`).
 */
const SECRET_KEYS = [
  'token',
  'value',
  'secret',
  'password',
  'authorization',
  'clientSecret',
  'secretId',
  'VAULT_TOKEN',
  'headers',
  'x-vault-token',
  'private-token',
];
const SECRET_KEY_SET = new Set(SECRET_KEYS.map((key) => key.toLowerCase()));
/** The same keys for pino's own redaction, which covers the first levels of what the hooks do not copy. */
export const REDACTED_PATHS = SECRET_KEYS.flatMap((key) => {
  const name = /^\w+$/.test(key) ? key : `["${key}"]`;
  const nested = name.startsWith('[') ? name : `.${name}`;
  return [name, `*${nested}`, `*.*${nested}`];
});

/**
 * An error as a log line shows it: its type, its message and stack (with its causes', as pino writes them),
 * its `code` and HTTP status, all cleaned. Nothing else: a library's error carries the request it failed
 * (an axios error from node-vault holds the X-Vault-Token header and the body written).
 */
function serializeError(error: unknown, stacks: boolean) {
  // `error` is also an ordinary field name (`{ error: 'text' }`): only an object is serialised as an error.
  if (typeof error !== 'object' || error === null) return redactStrings(error);
  const { type, message, stack } = pinoLibrary().stdSerializers.err(error as Error);
  const { code, status, statusCode, response } = error as Error & {
    code?: unknown;
    status?: unknown;
    statusCode?: unknown;
    response?: { status?: unknown; statusCode?: unknown };
  };
  const httpStatus = [status, statusCode, response?.status, response?.statusCode].find(
    (candidate) => typeof candidate === 'number',
  );
  return {
    type,
    message: redactSecrets(String(message ?? '')),
    ...(stacks && typeof stack === 'string' ? { stack: redactSecrets(stack) } : {}),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(httpStatus === undefined ? {} : { status: httpStatus }),
  };
}

/**
 * Lines on stdout, one per event: JSON objects (ISO timestamps, level names) or their readable rendering.
 * Secret-looking fields are censored, and token-shaped values (and the current activity's Vault values)
 * removed from every string, whatever its field is called, before either format is written.
 */
export function createLogger(
  level: LogLevel,
  destination: NodeJS.WritableStream = process.stdout,
  options: LoggerOptions = {},
): Logger {
  const format = options.format ?? ((destination as Partial<WriteStream>).isTTY === true ? 'pretty' : 'json');
  const stacks =
    (options.stacks ?? (format === 'json' ? 'always' : 'debug')) === 'always' ||
    level === 'debug' ||
    level === 'trace';
  const serializer = (error: unknown) => serializeError(error, stacks);
  const { pino, stdTimeFunctions } = pinoLibrary();
  return pino(
    {
      level,
      base: { service: 'cred-rotator' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), bindings: (bindings) => redactStrings(bindings) },
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      // The SDK passes failures as `error`; pino serialises only `err` by default.
      serializers: { err: serializer, error: serializer },
      hooks: {
        // The message, printf arguments and the object's fields; errors are left to their serializer.
        logMethod(args, method) {
          method.apply(this, args.map((arg) => redactStrings(arg)) as Parameters<typeof method>);
        },
      },
    },
    // The readable line is rendered from the JSON pino wrote, so it holds only what redaction has left.
    format === 'json' ? destination : { write: (line: string) => destination.write(readableLine(line)) },
  );
}

/** Fields a readable line leaves out: shown first (time, level, message), the same on every line, or opaque. */
const NOT_LISTED = new Set(['time', 'level', 'msg', 'service', 'taskToken']);
/** The fields the error serializer above writes errors under. */
const ERROR_FIELDS = new Set(['err', 'error']);
/** Control characters, which would break the line or drive the terminal (an escape sequence in remote text). */
const CONTROL_CHARACTERS = String.raw`\u0000-\u001f\u007f-\u009f`;
const CONTROL = new RegExp(`[${CONTROL_CHARACTERS}]`, 'g');
/** A value that reads as one word as it is: no space, quote, `=`, backslash or control character. */
const WORD = new RegExp(String.raw`^[^\s"=\\${CONTROL_CHARACTERS}]+$`);

const printable = (text: string) =>
  text.replace(CONTROL, (char) =>
    char < ' ' ? JSON.stringify(char).slice(1, -1) : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

/** A value as `key=value` shows it: JSON (a string quoted, its control characters escaped) unless one word. */
const shown = (value: unknown) =>
  typeof value === 'string' && WORD.test(value) ? value : JSON.stringify(value);

/**
 * One JSON line as `time LEVEL message key=value…`, the time of day in UTC. An error reads as
 * `type: message` with its other fields beside it, and its stack, when kept, on the indented lines below.
 */
function readableLine(json: string): string {
  const record = JSON.parse(json) as Record<string, unknown>;
  const pairs: string[] = [];
  const stacks: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (NOT_LISTED.has(key)) continue;
    if (!ERROR_FIELDS.has(key) || typeof value !== 'object' || value === null) {
      pairs.push(`${key}=${shown(value)}`);
      continue;
    }
    const { type, message, stack, ...rest } = value as Record<string, unknown>;
    pairs.push(`${key}=${shown([type, message].filter(Boolean).join(': '))}`);
    for (const [name, field] of Object.entries(rest)) pairs.push(`${key}.${name}=${shown(field)}`);
    if (typeof stack === 'string') stacks.push(...stack.split('\n'));
  }
  const time = String(record.time).slice(11);
  const head = [time, String(record.level).toUpperCase().padEnd(5), record.msg, ...pairs];
  const line = printable(head.filter((part) => part !== undefined && part !== '').join(' '));
  return [line, ...stacks.map((text) => `    ${printable(text)}`)].join('\n') + '\n';
}

/**
 * Strings in plain objects and arrays, however deep, redacted in a copy, and fields named like a secret
 * censored; other objects as they are. A
 * cycle is cut where it closes back, as pino itself would print it: the copy must not lead back to the
 * original's unredacted strings.
 */
function redactStrings<T>(value: T, ancestors = new Set<object>()): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (typeof value !== 'object' || value === null) return value;
  if (ancestors.has(value)) return '[Circular]' as T;
  const prototype = Object.getPrototypeOf(value) as unknown;
  const plain = Array.isArray(value) || prototype === Object.prototype || prototype === null;
  if (!plain) return value;
  ancestors.add(value);
  const copy = Array.isArray(value)
    ? value.map((item: unknown) => redactStrings(item, ancestors))
    : Object.fromEntries(
        Object.entries(value).map(([key, field]) => [
          key,
          SECRET_KEY_SET.has(key.toLowerCase()) ? REDACTED : redactStrings(field, ancestors),
        ]),
      );
  ancestors.delete(value);
  return copy as T;
}

const LEVELS: Record<TemporalLogLevel, LogLevel> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The Temporal Runtime's logger, writing through pino so that SDK, core and our lines share one format. */
export function temporalLogger(logger: Logger): TemporalLogger {
  const log = (level: TemporalLogLevel, message: string, meta?: LogMetadata) =>
    logger[LEVELS[level]](meta ?? {}, message);
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}
