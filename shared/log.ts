import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * The one logger. JSON lines, one event per line with a stable `event` name; secrets,
 * user principal names and hardware hashes are censored wherever they appear in the first
 * three levels of a log object (`hardwareHash`, `detail.hardwareHash`,
 * `rows[0].hardwareHash`) and at the top level of a child logger's fields. The event
 * catalogue is in docs/events.md.
 */

export const SENSITIVE_KEYS: ReadonlySet<string> = new Set([
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
]);

const CENSOR = '[redacted]';
/** Levels below the top one that are searched (pino's `*.key` and `*.*.key`). */
const NESTED_LEVELS = 2;

/**
 * A copy of `value` with every sensitive key censored, sharing whatever needed no change;
 * the value itself when nothing did. A plain walk over the keys: pino's path-based redaction
 * with wildcards cost ~25 times the log call itself, once per lifecycle event.
 */
export function censorSensitive<T>(value: T, level = 0): T {
  if (value === null || typeof value !== 'object' || value instanceof Error) return value;
  let copy: Record<string, unknown> | unknown[] | undefined;
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    const field = source[key];
    const next = SENSITIVE_KEYS.has(key) ? CENSOR : level < NESTED_LEVELS ? censorSensitive(field, level + 1) : field;
    if (next === field) continue;
    copy ??= Array.isArray(value) ? [...(value as unknown[])] : { ...source };
    (copy as Record<string, unknown>)[key] = next;
  }
  return (copy ?? value) as T;
}

export type { Logger };

export function createLogger(options: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const config: LoggerOptions = {
    name: options.name ?? 'ztp',
    level: options.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    // Child loggers' fields are censored by pino at their top level (where they carry ids
    // and names); each logged object by the walk below, three levels deep.
    redact: { paths: [...SENSITIVE_KEYS].map((key) => (/^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`)), censor: CENSOR },
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => censorSensitive(object),
    },
  };
  return destination ? pino(config, destination) : pino(config);
}
