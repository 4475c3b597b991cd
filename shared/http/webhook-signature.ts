import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signatures of the re-provisioning webhook, over the raw body bytes, in either of two schemes:
 *
 * - ZTP: `X-Ztp-Timestamp: <unix seconds>` and
 *   `X-Ztp-Signature: sha256=<lowercase hex HMAC-SHA256(key, "<timestamp>.<raw body>")>`;
 * - Standard Webhooks v1: `webhook-id`, `webhook-timestamp` and
 *   `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>`, a
 *   space-separated list in which one valid `v1,` entry is enough and other versions are ignored.
 *
 * Every presented signature is decoded to bytes and compared with the HMAC under every
 * configured key (rotation) with `timingSafeEqual`; a value that is not the one canonical
 * encoding of 32 bytes (64 lowercase hex digits; 44 base64 characters with padding) matches
 * nothing, so no two header values can stand for the same signature. The timestamp is signed
 * as sent and must be a plain integer of seconds within five minutes of now, either way. It is
 * judged after the signature, so `stale-timestamp` means "signed with a configured key, but the
 * clock is off or it is a replay" and tells an unsigned sender nothing.
 *
 * Both schemes' headers in one request: each scheme whose signature header is present is
 * checked and the request is valid when either verifies. Standard Webhooks is tried first so
 * that a verified `webhook-id` (the idempotency key of that scheme) is reported; a `webhook-id`
 * that its own signature did not cover is never reported.
 *
 * Why not the `standardwebhooks` package: it holds one secret per instance and throws rather
 * than returning a result, reads the clock itself, takes a raw string secret one byte per
 * character rather than as UTF-8, decodes the body to a string before signing and knows only its
 * own scheme. The rotation list, the second scheme and typed results would all be wrapped around
 * it, which is more code than the few lines of HMAC below. A test checks that the two agree
 * whenever the package is installed.
 *
 * Messages name headers and rules, never a signature, a body or a secret.
 */

export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;
/** The shortest secret accepted, in characters, and the fewest key bytes a `whsec_` secret may decode to. */
export const MIN_SECRET_LENGTH = 16;

export const ZTP_TIMESTAMP_HEADER = 'x-ztp-timestamp';
export const ZTP_SIGNATURE_HEADER = 'x-ztp-signature';
export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';

export type SignatureScheme = 'ztp' | 'standard-webhooks';

export type SignatureCheck =
  | { ok: true; scheme: SignatureScheme; timestamp: number; webhookId?: string }
  | { ok: false; code: 'missing-signature' | 'invalid-signature' | 'stale-timestamp'; message: string };

type Failure = Extract<SignatureCheck, { ok: false }>;
type HeaderGetter = (name: string) => string | null | undefined;

const WHSEC_PREFIX = 'whsec_';
const ZTP_PREFIX = 'sha256=';
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;
const BASE64_SIGNATURE = /^[A-Za-z0-9+/]{43}=$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const SECONDS = /^[0-9]{1,15}$/;
/** Visible ASCII: the id is signed as text and used as an idempotency key. */
const WEBHOOK_ID = /^[\x21-\x7e]{1,256}$/;

/**
 * REPROVISION_WEBHOOK_SECRET as HMAC keys: one secret, or several separated by commas while a
 * secret is rotated. Each is trimmed and at least 16 characters; a `whsec_` secret stands for
 * the bytes its base64 rest decodes to (at least 16), any other for its UTF-8 bytes. Throws an
 * Error naming what is wrong and which secret (by position), never the secret itself.
 */
export function webhookKeys(setting: string): Buffer[] {
  const secrets = setting.split(',').map((secret) => secret.trim());
  if (secrets.every((secret) => secret === '')) throw new Error('is empty: give one secret, or several separated by commas');
  return secrets.map((secret, index) => {
    const which = secrets.length === 1 ? 'the secret' : `secret ${index + 1} of ${secrets.length}`;
    if (secret === '') throw new Error(`${which} is empty (a comma too many?)`);
    if (secret.length < MIN_SECRET_LENGTH) throw new Error(`${which} is shorter than ${MIN_SECRET_LENGTH} characters`);
    if (!secret.startsWith(WHSEC_PREFIX)) return Buffer.from(secret, 'utf8');
    const encoded = secret.slice(WHSEC_PREFIX.length);
    const key = Buffer.from(encoded, 'base64');
    // Buffer.from skips what is not base64; only an exact round trip shows nothing was skipped.
    if (!BASE64.test(encoded) || key.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
      throw new Error(`${which} starts with ${WHSEC_PREFIX} but the rest is not valid base64`);
    }
    if (key.length < MIN_SECRET_LENGTH) {
      throw new Error(`${which} starts with ${WHSEC_PREFIX} but decodes to fewer than ${MIN_SECRET_LENGTH} bytes`);
    }
    return key;
  });
}

/**
 * Checks a request's signature. `header` looks a header up by its lower-case name (as
 * `HttpRequest.headers.get` and `Headers.get` do whatever case was sent; see `headerLookup`
 * for a plain object); `nowMs` is the caller's clock.
 */
export function verifyWebhookSignature(header: HeaderGetter, rawBody: Uint8Array, keys: readonly Buffer[], nowMs: number): SignatureCheck {
  const read = (name: string): string | undefined => {
    const value = header(name)?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const failures: Failure[] = [];
  const standardSignature = read(WEBHOOK_SIGNATURE_HEADER);
  if (standardSignature !== undefined) {
    const standard = { id: read(WEBHOOK_ID_HEADER), timestamp: read(WEBHOOK_TIMESTAMP_HEADER), signature: standardSignature };
    const result = checkStandardWebhooks(standard, rawBody, keys, nowMs);
    if (result.ok) return result;
    failures.push(result);
  }
  const ztpSignature = read(ZTP_SIGNATURE_HEADER);
  if (ztpSignature !== undefined) {
    const result = checkZtp({ timestamp: read(ZTP_TIMESTAMP_HEADER), signature: ztpSignature }, rawBody, keys, nowMs);
    if (result.ok) return result;
    failures.push(result);
  }
  if (failures.length === 0) {
    return {
      ok: false,
      code: 'missing-signature',
      message:
        'The request is not signed: send X-Ztp-Timestamp and X-Ztp-Signature, or webhook-id, webhook-timestamp and webhook-signature.',
    };
  }
  // A signature that verified against a stale timestamp says more than one that did not verify.
  const code = failures.find((failure) => failure.code === 'stale-timestamp')?.code ?? failures[0]!.code;
  return { ok: false, code, message: failures.map((failure) => failure.message).join(' ') };
}

/** Headers that sign `rawBody` in the ZTP scheme. */
export function signZtp(key: Buffer, rawBody: Uint8Array | string, timestampSeconds: number): Record<string, string> {
  const timestamp = timestampText(timestampSeconds);
  return {
    'X-Ztp-Timestamp': timestamp,
    'X-Ztp-Signature': `${ZTP_PREFIX}${hmac(key, `${timestamp}.`, bytes(rawBody)).toString('hex')}`,
  };
}

/** Headers that sign `rawBody` in the Standard Webhooks v1 scheme; `webhookId` is also the idempotency key. */
export function signStandardWebhooks(
  key: Buffer,
  webhookId: string,
  rawBody: Uint8Array | string,
  timestampSeconds: number,
): Record<string, string> {
  if (!WEBHOOK_ID.test(webhookId)) throw new RangeError('webhook-id must be 1-256 visible ASCII characters');
  const timestamp = timestampText(timestampSeconds);
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': timestamp,
    'webhook-signature': `v1,${hmac(key, `${webhookId}.${timestamp}.`, bytes(rawBody)).toString('base64')}`,
  };
}

/** A case-insensitive getter over plain headers, e.g. `IncomingMessage.headers` or a test's object. */
export function headerLookup(headers: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderGetter {
  const byName = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) byName.set(name.toLowerCase(), typeof value === 'string' ? value : value.join(', '));
  }
  return (name) => byName.get(name.toLowerCase());
}

function checkZtp(
  headers: { timestamp: string | undefined; signature: string },
  rawBody: Uint8Array,
  keys: readonly Buffer[],
  nowMs: number,
): SignatureCheck {
  if (headers.timestamp === undefined) return missing('X-Ztp-Signature came without X-Ztp-Timestamp.');
  if (!SECONDS.test(headers.timestamp)) return invalid('X-Ztp-Timestamp must be a plain integer: unix time in seconds.');
  const presented = headers.signature.startsWith(ZTP_PREFIX) ? headers.signature.slice(ZTP_PREFIX.length) : '';
  const candidates = HEX_SIGNATURE.test(presented) ? [Buffer.from(presented, 'hex')] : [];
  if (!matchesAnyKey(candidates, keys, (key) => hmac(key, `${headers.timestamp}.`, rawBody))) {
    return invalid(
      'X-Ztp-Signature does not match: expected sha256=<64 lowercase hex digits of HMAC-SHA256 over "<timestamp>.<raw body>">.',
    );
  }
  return fresh('ztp', 'X-Ztp-Timestamp', headers.timestamp, nowMs);
}

function checkStandardWebhooks(
  headers: { id: string | undefined; timestamp: string | undefined; signature: string },
  rawBody: Uint8Array,
  keys: readonly Buffer[],
  nowMs: number,
): SignatureCheck {
  if (headers.id === undefined || headers.timestamp === undefined) {
    return missing('webhook-signature came without webhook-id and webhook-timestamp.');
  }
  if (!WEBHOOK_ID.test(headers.id)) return invalid('webhook-id must be 1-256 visible ASCII characters.');
  if (!SECONDS.test(headers.timestamp)) return invalid('webhook-timestamp must be a plain integer: unix time in seconds.');
  const candidates: Buffer[] = [];
  // Space-separated; a header sent twice arrives joined with ", ".
  for (const entry of headers.signature.split(/\s+/)) {
    const [version, signature] = entry.replace(/,$/, '').split(',', 2);
    if (version === 'v1' && signature !== undefined && BASE64_SIGNATURE.test(signature)) {
      const decoded = Buffer.from(signature, 'base64');
      // Unused low bits in the last character would give several spellings of one signature.
      if (decoded.toString('base64') === signature) candidates.push(decoded);
    }
  }
  if (!matchesAnyKey(candidates, keys, (key) => hmac(key, `${headers.id}.${headers.timestamp}.`, rawBody))) {
    return invalid(
      'webhook-signature has no matching v1 signature (base64 HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<raw body>").',
    );
  }
  const result = fresh('standard-webhooks', 'webhook-timestamp', headers.timestamp, nowMs);
  return result.ok ? { ...result, webhookId: headers.id } : result;
}

/** Every candidate against every key, each comparison in constant time and none cut short. */
function matchesAnyKey(candidates: readonly Buffer[], keys: readonly Buffer[], expected: (key: Buffer) => Buffer): boolean {
  let matched = false;
  for (const key of keys) {
    const mac = expected(key);
    for (const candidate of candidates) {
      const equal = candidate.length === mac.length && timingSafeEqual(candidate, mac);
      matched = matched || equal;
    }
  }
  return matched;
}

function fresh(scheme: SignatureScheme, headerName: string, sent: string, nowMs: number): SignatureCheck {
  const timestamp = Number(sent);
  const skewSeconds = Math.round((timestamp * 1000 - nowMs) / 1000);
  if (Math.abs(timestamp * 1000 - nowMs) <= SIGNATURE_TOLERANCE_MS) return { ok: true, scheme, timestamp };
  const hint = timestamp > 1e11 ? ' (it looks like milliseconds; send seconds)' : '';
  const direction = skewSeconds > 0 ? 'ahead of' : 'behind';
  return {
    ok: false,
    code: 'stale-timestamp',
    message: `${headerName} is ${Math.abs(skewSeconds)} s ${direction} the server's clock${hint}; at most ${SIGNATURE_TOLERANCE_MS / 1000} s either way is accepted.`,
  };
}

function hmac(key: Buffer, prefix: string, rawBody: Uint8Array): Buffer {
  return createHmac('sha256', key).update(prefix, 'utf8').update(rawBody).digest();
}

function bytes(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

function timestampText(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError('the timestamp must be whole unix seconds');
  return String(seconds);
}

const missing = (message: string): Failure => ({ ok: false, code: 'missing-signature', message });
const invalid = (message: string): Failure => ({ ok: false, code: 'invalid-signature', message });
