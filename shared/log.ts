import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * The one logger. JSON lines, one event per line with a stable `event` name. Secrets, user
 * principal names and hardware hashes are censored twice over:
 * - by key, case-insensitively: the value of a sensitive key in the first three levels of a
 *   log object (`hardwareHash`, `detail.hardwareHash`, `rows[0].hardwareHash`), in a child
 *   logger's fields and in a serialized `err`;
 * - by shape, in the finished line: whatever looks like a secret or an e-mail address in a
 *   message, an error's message or stack, a URL or a field at any depth (`censorText`).
 * The event catalogue is in docs/events.md.
 */

/** Keys whose value is censored whatever it is (compared in lower case). */
export const SENSITIVE_KEYS: ReadonlySet<string> = new Set(
  [
    // Hardware hashes and personal data.
    'hardwareHash',
    'hardwareIdentifier',
    'assignedUser',
    'assignedUserPrincipalName',
    'userPrincipalName',
    'userDisplayName',
    'upn',
    'email',
    'emailAddress',
    'requestedBy',
    // Secrets by name, as settings, config fields and the Azure SDKs' options call them.
    'secret',
    'clientSecret',
    'client_secret',
    'clientAssertion',
    'client_assertion',
    'password',
    'pwd',
    'token',
    'accessToken',
    'access_token',
    'refreshToken',
    'refresh_token',
    'idToken',
    'id_token',
    'staticToken',
    'sasToken',
    'connectionString',
    'storageConnectionString',
    'AzureWebJobsStorage',
    'ServiceBusConnection',
    'AccountKey',
    'SharedAccessKey',
    'SharedAccessSignature',
    'sig',
    'signature',
    'webhookKeys',
    'functionKey',
    'apiKey',
    // Headers that carry credentials or signatures.
    'authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'x-functions-key',
    'x-api-key',
    'api-key',
    'ocp-apim-subscription-key',
    'x-ms-authorization-auxiliary',
    'x-ms-copy-source-authorization',
    'x-ms-encryption-key',
    'x-ztp-signature',
    'webhook-signature',
    'x-hub-signature',
    'x-hub-signature-256',
  ].map((key) => key.toLowerCase()),
);

/**
 * Keys censored only when their value looks like a key: `code` is a function key in a query
 * (`?code=`), and also the documented field of every error code (`806`, `invalid-signature`,
 * `PropertyValueTooLarge`), which must stay readable.
 */
const KEY_SHAPED_KEYS: ReadonlySet<string> = new Set(['code']);
/** Base64 or base64url of at least 24 bytes with a digit in it: no error code looks like that. */
const KEY_SHAPED = /^(?=\D*\d)[A-Za-z0-9+/_-]{32,}={0,2}$/;

const CENSOR = '[redacted]';
/** Levels below the top one that are searched (pino's `*.key` and `*.*.key`). */
const NESTED_LEVELS = 2;

const KEEP = 0;
const CENSORED = 1;
const IF_KEY_SHAPED = 2;
/**
 * Verdicts by key as written: log objects use a few dozen keys, so lower-casing each one on
 * every line would be wasted work. Bounded, since some logged objects carry keys from outside.
 */
const verdicts = new Map<string, number>();
const MAX_VERDICTS = 4096;

function verdictOf(key: string): number {
  let verdict = verdicts.get(key);
  if (verdict === undefined) {
    const lower = key.toLowerCase();
    verdict = SENSITIVE_KEYS.has(lower) ? CENSORED : KEY_SHAPED_KEYS.has(lower) ? IF_KEY_SHAPED : KEEP;
    if (verdicts.size < MAX_VERDICTS) verdicts.set(key, verdict);
  }
  return verdict;
}

/** Whether a key's value is censored whatever it is (`code` only when it looks like a key). */
export function isSensitiveKey(key: string): boolean {
  return verdictOf(key) === CENSORED;
}

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
    const verdict = verdictOf(key);
    const next =
      verdict === CENSORED || (verdict === IF_KEY_SHAPED && typeof field === 'string' && KEY_SHAPED.test(field))
        ? CENSOR
        : level < NESTED_LEVELS
          ? censorSensitive(field, level + 1)
          : field;
    if (next === field) continue;
    copy ??= Array.isArray(value) ? [...(value as unknown[])] : { ...source };
    (copy as Record<string, unknown>)[key] = next;
  }
  return (copy ?? value) as T;
}

/**
 * Secrets by shape: one alternation, compiled once and run once over each finished line.
 * Every branch starts on a character that is rare in a log line (`\`, `=`, `,`, `@`, `J`,
 * white space) and checks what precedes it with a lookbehind: a branch starting on a common
 * letter is tried at most positions of every line, and one starting on a letter class was
 * measured at ~20 times the cost. Each is anchored on something no serial, batch id (32 hex
 * digits), ETag, message id or ISO time has: a name (`?code=`, `sig=`, `AccountKey=`,
 * `Bearer `, `sha256=`, `v1,`), the `eyJ` of a JWT's two JSON parts, an `@` between a name and
 * a domain, or `==` after exactly 86 base64 characters that stand alone (a storage account
 * key, 64 bytes; longer runs such as hashes are left alone).
 *
 * The text is JSON, so nothing censored may contain `"` or `\` or begin inside an escape: the
 * first branch takes each escape whole and keeps it, no later match starts before its end,
 * and the lookbehinds accept an escape before a name (`\n`, `\u001b`) as they accept a space.
 */
const ESCAPED = String.raw`\\(?:[nrtbf]|u[0-9a-f]{4})`;
const SECRET_NAMES =
  'sig|client_secret|client_assertion|access_token|refresh_token|id_token|password|pwd|api-?key|subscription-key|AccountKey|SharedAccessKey|SharedAccessSignature';
const SHAPES = new RegExp(
  [
    // 1: a JSON escape, kept.
    String.raw`(\\(?:u[0-9a-f]{4}|[^u]))`,
    // 2: a bearer token, after its scheme (16 characters at least: "the bearer token" is prose).
    String.raw`(\s+)(?<=bearer\s+)[\w.~+/-]{16,}=*`,
    // 3: a secret query parameter, form field or connection-string part, after its name.
    String.raw`(=)(?<=(?:[?&]code|(?:^|[^\w-]|${ESCAPED})(?:${SECRET_NAMES}))=)[^&;\s"\\#]+`,
    // 4: an HMAC signature in hex (X-Ztp-Signature, X-Hub-Signature); 5: in base64 (Standard Webhooks).
    String.raw`(=)(?<=sha(?:1|256|512)=)[0-9a-f]{16,}`,
    String.raw`(,)(?<=v1a?,)[A-Za-z0-9+/]{20,}={0,2}`,
    // 6: an e-mail address or user principal name, from its @ (the name before it is walked back).
    String.raw`(@)(?<=[\w.%+-]@)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}`,
    // 7: the end of a storage account key (its 86 characters are before the match).
    String.raw`(==)(?<=(?:^|[^A-Za-z0-9+/=]|${ESCAPED})[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])`,
    // 8: a JWT, with or without its signature, from the J of its `eyJ`.
    String.raw`(J)(?<=eyJ)[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*`,
  ].join('|'),
  'gi',
);
const ACCOUNT_KEY_BODY = 86;
const JWT_START = 'ey'.length;

/** Whether the character at `index` may be part of an e-mail address's name (`[\w.%+-]`). */
function inAddressName(text: string, index: number): boolean {
  const c = text.charCodeAt(index);
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 46 || c === 37 || c === 43 || c === 45;
}

/** `text` with every secret-shaped part censored and the rest kept (`https://x/api?code=[redacted]`). */
export function censorText(text: string): string {
  SHAPES.lastIndex = 0;
  let match = SHAPES.exec(text);
  if (match === null) return text;
  let out = '';
  /** Where the text not yet copied to `out` starts. */
  let copied = 0;
  /** How far back a censored part may start: never inside an escape or an earlier match. */
  let floor = 0;
  do {
    const [found, escape, scheme, name, hexPrefix, base64Prefix, at, keyEnd, jwt] = match;
    const end = match.index + found.length;
    if (escape !== undefined) {
      floor = end;
    } else {
      let start = match.index;
      let keep = '';
      if (at !== undefined) while (start > floor && inAddressName(text, start - 1)) start -= 1;
      else if (keyEnd !== undefined) start -= ACCOUNT_KEY_BODY;
      else if (jwt !== undefined) start -= JWT_START;
      else keep = scheme ?? name ?? hexPrefix ?? base64Prefix ?? '';
      // An address needs a name; a key or JWT that began inside an earlier match is left whole.
      if (start >= floor && !(at !== undefined && start === match.index)) {
        out += text.slice(copied, start) + keep + CENSOR;
        copied = floor = end;
      }
    }
    match = SHAPES.exec(text);
  } while (match !== null);
  return copied === 0 ? text : out + text.slice(copied);
}

export type { Logger };

export function createLogger(options: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const config: LoggerOptions = {
    name: options.name ?? 'ztp',
    level: options.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: (error: Error) => censorSensitive(pino.stdSerializers.err(error)) },
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => censorSensitive(object),
    },
    hooks: { streamWrite: censorText },
  };
  const logger = destination ? pino(config, destination) : pino(config);
  // A child's fields are written into its lines once, when it is made, and pino's bindings
  // formatter sees the root's fields only: censor them on the way in. Children inherit this.
  const makeChild = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return makeChild.call(this, censorSensitive(bindings), childOptions);
  } as Logger['child'];
  return logger;
}
