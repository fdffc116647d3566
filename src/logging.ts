import { pino, stdSerializers, stdTimeFunctions, type Logger as PinoLogger } from 'pino';
import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { REDACTED, redactSecrets } from './redaction';

export type Logger = PinoLogger;
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

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
function serializeError(error: unknown) {
  // `error` is also an ordinary field name (`{ error: 'text' }`): only an object is serialised as an error.
  if (typeof error !== 'object' || error === null) return redactStrings(error);
  const { type, message, stack } = stdSerializers.err(error as Error);
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
    ...(typeof stack === 'string' ? { stack: redactSecrets(stack) } : {}),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(httpStatus === undefined ? {} : { status: httpStatus }),
  };
}

/**
 * JSON lines on stdout: one object per event, ISO timestamps, level names, secret-looking fields censored,
 * and token-shaped values (and the current activity's Vault values) removed from every string, whatever its
 * field is called.
 */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  // The SDK passes failures as `error`; pino serialises only `err` by default.
  return pino(
    {
      level,
      base: { service: 'cred-rotator' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), bindings: (bindings) => redactStrings(bindings) },
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      serializers: { err: serializeError, error: serializeError },
      hooks: {
        // The message, printf arguments and the object's fields; errors are left to their serializer.
        logMethod(args, method) {
          method.apply(this, args.map((arg) => redactStrings(arg)) as Parameters<typeof method>);
        },
      },
    },
    destination ?? process.stdout,
  );
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
