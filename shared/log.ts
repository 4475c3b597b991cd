import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * The one logger. JSON lines, one event per line with a stable `event` name; secrets,
 * user principal names and hardware hashes are censored wherever they appear in the
 * first two levels of a log object. The event catalogue is in docs/events.md.
 */

const SENSITIVE_KEYS = [
  'hardwareHash',
  'hardwareIdentifier',
  'assignedUser',
  'assignedUserPrincipalName',
  'userPrincipalName',
  'requestedBy',
  'secret',
  'token',
  'accessToken',
  'authorization',
  'Authorization',
  'connectionString',
  'signature',
  'x-ztp-signature',
];

export const REDACTED_PATHS: readonly string[] = [
  ...SENSITIVE_KEYS,
  ...SENSITIVE_KEYS.map((key) => `*.${key}`),
  ...SENSITIVE_KEYS.map((key) => `*.*.${key}`),
  'headers["x-ztp-signature"]',
  'req.headers.authorization',
];

export type { Logger };

export function createLogger(options: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const config: LoggerOptions = {
    name: options.name ?? 'ztp',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(config, destination) : pino(config);
}

/** A logger for one invocation: every line carries its correlation id. */
export function invocationLogger(parent: Logger, correlationId: string, fields: Record<string, unknown> = {}): Logger {
  return parent.child({ correlationId, ...fields });
}

/** Shortens an identifier that must never be logged whole (a hash) to a recognisable prefix. */
export function fingerprint(value: string, length = 12): string {
  return value.length <= length ? value : `${value.slice(0, length)}…`;
}
