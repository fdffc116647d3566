import { pino, stdSerializers, stdTimeFunctions, type Logger as PinoLogger } from 'pino';
import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';

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

/** JSON lines on stdout: one object per event, ISO timestamps, level names, secret-looking fields censored. */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'cred-rotator' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      // The SDK passes failures as `error`; pino serialises only `err` by default.
      serializers: { err: stdSerializers.err, error: stdSerializers.err },
    },
    destination ?? process.stdout,
  );
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
