import { pino, stdSerializers, stdTimeFunctions, type Logger as PinoLogger } from 'pino';
import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { REDACTED, redactSecrets } from './redaction';

export type Logger = PinoLogger;
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/**
 * Fields that may hold a secret wherever they appear one or two levels down. Nothing the worker logs
 * should carry a value at all; this is the net under that rule, for metadata the SDK or a library adds.
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
];
export const REDACTED_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/**
 * JSON lines on stdout: one object per event, ISO timestamps, level names, secret-looking fields censored,
 * and token-shaped values (and the current activity's Vault values) removed from every string, whatever its
 * field is called.
 */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  // The SDK passes failures as `error`; pino serialises only `err` by default. The serialised error's
  // own fields (type, message with its causes', stack, extra properties) are copied into a plain object to
  // be redacted: its prototype holds only empty defaults.
  const serializeError = (error: Error) => redactStrings({ ...stdSerializers.err(error) });
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
 * Strings in plain objects and arrays, however deep, redacted in a copy; other objects as they are. A
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
    : Object.fromEntries(Object.entries(value).map(([key, field]) => [key, redactStrings(field, ancestors)]));
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
