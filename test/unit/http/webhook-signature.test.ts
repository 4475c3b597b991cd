import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  headerLookup,
  SIGNATURE_TOLERANCE_MS,
  signStandardWebhooks,
  signZtp,
  verifyWebhookSignature,
  webhookKeys,
  type SignatureCheck,
} from '../../../shared/http/webhook-signature.js';

/** 2026-01-01T10:00:00Z */
const T = 1_767_261_600;
const NOW = T * 1000;
const SECRET = 'ztp-known-answer-secret';
const KEY = Buffer.from(SECRET, 'utf8');
const BODY = '{"action":"wipe","ticket":"INC0012345","requestedBy":"jane.doe@contoso.com"}';
const BODY_BYTES = Buffer.from(BODY, 'utf8');

/*
 * Known answers computed outside the code, with OpenSSL 3.0:
 *   printf '%s' "1767261600.$BODY" | openssl dgst -sha256 -hmac 'ztp-known-answer-secret'
 *   printf '%s' "msg_2026-01-01.1767261600.$BODY" | openssl dgst -sha256 -hmac 'ztp-known-answer-secret' -binary | base64
 *   printf '1767261600.{"requestedBy":"Zo\xc3\xab M\xc3\xbcller"}\xff' | openssl dgst -sha256 -hmac 'ztp-known-answer-secret'
 */
const ZTP_HEX = '61dff30eaa8c6419c80a2b5f9ccc0bd82d6347d581b5c056344b0e24074debd2';
const STANDARD_BASE64 = 'hEtCij1Ms7DRk5VGgWf+ljbpUzowqwNo117sNOys7wY=';
const RAW_BYTES_BODY = Buffer.concat([Buffer.from('{"requestedBy":"Zoë Müller"}', 'utf8'), Buffer.from([0xff])]);
const RAW_BYTES_HEX = '40663cc40c75c9b75d20a2db33aeea6005b6a3e8ea4c592d3365b2d9f35a2361';

/** The example of the Standard Webhooks specification (its README and reference libraries' tests). */
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1_614_265_330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function verify(
  headers: Record<string, string>,
  body: Uint8Array = BODY_BYTES,
  keys: readonly Buffer[] = [KEY],
  nowMs = NOW,
): SignatureCheck {
  return verifyWebhookSignature(headerLookup(headers), body, keys, nowMs);
}

function refusal(check: SignatureCheck): Extract<SignatureCheck, { ok: false }> {
  if (check.ok) throw new Error(`expected a refusal, got ${JSON.stringify(check)}`);
  return check;
}

const ztpHeaders = (overrides: Record<string, string> = {}) => ({ ...signZtp(KEY, BODY, T), ...overrides });
const standardHeaders = (overrides: Record<string, string> = {}) => ({
  ...signStandardWebhooks(KEY, 'msg_2026-01-01', BODY, T),
  ...overrides,
});

describe('known answers', () => {
  it('ZTP: sha256=<hex HMAC> over "<timestamp>.<raw body>"', () => {
    expect(signZtp(KEY, BODY, T)).toEqual({ 'X-Ztp-Timestamp': '1767261600', 'X-Ztp-Signature': `sha256=${ZTP_HEX}` });
    expect(verify({ 'X-Ztp-Timestamp': '1767261600', 'X-Ztp-Signature': `sha256=${ZTP_HEX}` })).toEqual({
      ok: true,
      scheme: 'ztp',
      timestamp: T,
    });
  });

  it('ZTP: the raw bytes are signed, also when they are not valid UTF-8', () => {
    expect(signZtp(KEY, RAW_BYTES_BODY, T)['X-Ztp-Signature']).toBe(`sha256=${RAW_BYTES_HEX}`);
    expect(verify({ 'X-Ztp-Timestamp': String(T), 'X-Ztp-Signature': `sha256=${RAW_BYTES_HEX}` }, RAW_BYTES_BODY).ok).toBe(true);
    expect(verify({ 'X-Ztp-Timestamp': String(T), 'X-Ztp-Signature': `sha256=${RAW_BYTES_HEX}` }, RAW_BYTES_BODY.subarray(0, -1)).ok).toBe(
      false,
    );
  });

  it('Standard Webhooks: v1,<base64 HMAC> over "<id>.<timestamp>.<raw body>", the id reported', () => {
    expect(signStandardWebhooks(KEY, 'msg_2026-01-01', BODY, T)).toEqual({
      'webhook-id': 'msg_2026-01-01',
      'webhook-timestamp': '1767261600',
      'webhook-signature': `v1,${STANDARD_BASE64}`,
    });
    expect(
      verify({ 'webhook-id': 'msg_2026-01-01', 'webhook-timestamp': '1767261600', 'webhook-signature': `v1,${STANDARD_BASE64}` }),
    ).toEqual({ ok: true, scheme: 'standard-webhooks', timestamp: T, webhookId: 'msg_2026-01-01' });
  });

  it('Standard Webhooks: the specification’s own example, with its whsec_ secret', () => {
    const keys = webhookKeys(SPEC.secret);
    expect(signStandardWebhooks(keys[0]!, SPEC.id, SPEC.body, SPEC.timestamp)['webhook-signature']).toBe(SPEC.signature);
    const headers = { 'webhook-id': SPEC.id, 'webhook-timestamp': String(SPEC.timestamp), 'webhook-signature': SPEC.signature };
    expect(verify(headers, Buffer.from(SPEC.body), keys, SPEC.timestamp * 1000)).toMatchObject({ ok: true, webhookId: SPEC.id });
  });
});

describe('keys', () => {
  const oldKey = Buffer.from('the-old-secret-0123456789');
  const newKey = Buffer.from('the-new-secret-9876543210');

  it('while rotating, a signature under any configured key verifies', () => {
    for (const key of [oldKey, newKey]) {
      expect(verify(signZtp(key, BODY, T), BODY_BYTES, [newKey, oldKey]).ok).toBe(true);
      expect(verify(signStandardWebhooks(key, 'id-1', BODY, T), BODY_BYTES, [newKey, oldKey]).ok).toBe(true);
    }
    expect(refusal(verify(signZtp(KEY, BODY, T), BODY_BYTES, [newKey, oldKey])).code).toBe('invalid-signature');
  });

  it('a whsec_ key is its decoded bytes, not its text', () => {
    const bytes = Buffer.alloc(32, 0xa5);
    const [key] = webhookKeys(`whsec_${bytes.toString('base64')}`);
    expect(key).toEqual(bytes);
    expect(verify(signZtp(bytes, BODY, T), BODY_BYTES, [key!]).ok).toBe(true);
    expect(verify(signZtp(Buffer.from(`whsec_${bytes.toString('base64')}`), BODY, T), BODY_BYTES, [key!]).ok).toBe(false);
  });

  it('with no keys nothing verifies', () => {
    expect(refusal(verify(ztpHeaders(), BODY_BYTES, [])).code).toBe('invalid-signature');
  });

  it('webhookKeys keeps the order of the setting, so the first is the one to sign with', () => {
    expect(webhookKeys('first-secret-0123456789, second-secret-0123456789')).toEqual([
      Buffer.from('first-secret-0123456789'),
      Buffer.from('second-secret-0123456789'),
    ]);
  });
});

describe('Standard Webhooks signature lists', () => {
  const right = `v1,${STANDARD_BASE64}`;
  const wrong = `v1,${Buffer.alloc(32, 1).toString('base64')}`;

  it.each([
    ['a wrong one, then the right one', `${wrong} ${right}`],
    ['the right one, then a wrong one', `${right} ${wrong}`],
    ['other versions around the right one', `v2,${STANDARD_BASE64} ${right} v1a,xyz`],
    ['several blanks between entries', `${wrong}   ${right}`],
    ['the header sent twice (joined with a comma)', `${wrong}, ${right}`],
  ])('one valid v1 entry is enough: %s', (_label, signature) => {
    expect(verify(standardHeaders({ 'webhook-signature': signature })).ok).toBe(true);
  });

  it.each([
    ['only another version', `v2,${STANDARD_BASE64}`],
    ['a version that only starts with v1', `v1a,${STANDARD_BASE64}`],
    ['the version in capitals', `V1,${STANDARD_BASE64}`],
    ['only wrong v1 entries', `${wrong} ${wrong}`],
    ['no version at all', STANDARD_BASE64],
  ])('refused with %s', (_label, signature) => {
    expect(refusal(verify(standardHeaders({ 'webhook-signature': signature }))).code).toBe('invalid-signature');
  });
});

describe('timestamps', () => {
  const schemes = [
    ['ZTP', (ts: number) => signZtp(KEY, BODY, ts), 'X-Ztp-Timestamp'],
    ['Standard Webhooks', (ts: number) => signStandardWebhooks(KEY, 'id-1', BODY, ts), 'webhook-timestamp'],
  ] as const;
  const tolerance = SIGNATURE_TOLERANCE_MS / 1000;

  it.each(schemes)('%s: accepted up to five minutes either way', (_scheme, sign) => {
    for (const offset of [0, -1, 1, -(tolerance - 1), tolerance - 1, -tolerance, tolerance]) {
      expect(verify(sign(T + offset)).ok, `offset ${offset} s`).toBe(true);
    }
  });

  it.each(schemes)('%s: refused just past five minutes, old or in the future', (_scheme, sign, header) => {
    const old = refusal(verify(sign(T - tolerance - 1)));
    expect(old).toMatchObject({ code: 'stale-timestamp' });
    expect(old.message).toContain(`${header} is 301 s behind the server's clock`);
    const future = refusal(verify(sign(T + tolerance + 1)));
    expect(future).toMatchObject({ code: 'stale-timestamp' });
    expect(future.message).toContain('301 s ahead of');
    expect(refusal(verify(sign(T - 86_400))).code).toBe('stale-timestamp');
  });

  it('a millisecond timestamp is stale, and the message says why', () => {
    const headers = signZtp(KEY, BODY, NOW);
    const stale = refusal(verify(headers));
    expect(stale.code).toBe('stale-timestamp');
    expect(stale.message).toContain('milliseconds');
  });

  it('a stale timestamp is only reported for a signature that verified', () => {
    expect(refusal(verify(signZtp(Buffer.from('someone-else-0123456789'), BODY, T - 3600))).code).toBe('invalid-signature');
  });

  it.each([
    ['1767261600.0'],
    ['+1767261600'],
    ['-1767261600'],
    ['1.7e9'],
    ['0x6955c720'],
    ['1767261600s'],
    ['1767 261600'],
    ['١٧٦٧٢٦١٦٠٠'],
  ])('refuses %j: not a plain integer of seconds, even when signed as sent', (timestamp) => {
    const ztp = { 'X-Ztp-Timestamp': timestamp, 'X-Ztp-Signature': `sha256=${hmacHex(`${timestamp}.${BODY}`)}` };
    expect(refusal(verify(ztp))).toMatchObject({ code: 'invalid-signature', message: expect.stringContaining('plain integer') });
    const standard = standardHeaders({ 'webhook-timestamp': timestamp });
    expect(refusal(verify(standard)).code).toBe('invalid-signature');
  });
});

describe('missing and malformed headers', () => {
  it('nothing signed: missing-signature naming both header sets', () => {
    const check = refusal(verify({ 'content-type': 'application/json' }));
    expect(check.code).toBe('missing-signature');
    expect(check.message).toContain('X-Ztp-Signature');
    expect(check.message).toContain('webhook-signature');
  });

  it.each([
    ['X-Ztp-Signature without X-Ztp-Timestamp', { 'X-Ztp-Signature': `sha256=${ZTP_HEX}` }],
    ['X-Ztp-Timestamp alone', { 'X-Ztp-Timestamp': String(T) }],
    ['webhook-signature without webhook-id', { 'webhook-timestamp': String(T), 'webhook-signature': `v1,${STANDARD_BASE64}` }],
    ['webhook-signature without webhook-timestamp', { 'webhook-id': 'msg_2026-01-01', 'webhook-signature': `v1,${STANDARD_BASE64}` }],
    ['webhook-id and webhook-timestamp alone', { 'webhook-id': 'msg_2026-01-01', 'webhook-timestamp': String(T) }],
    ['empty values', { 'X-Ztp-Timestamp': ' ', 'X-Ztp-Signature': '' }],
  ])('%s: missing-signature', (_label, headers) => {
    expect(refusal(verify(headers)).code).toBe('missing-signature');
  });

  it.each([
    ['62 hex digits', `sha256=${ZTP_HEX.slice(0, 62)}`],
    ['66 hex digits', `sha256=${ZTP_HEX}00`],
    ['the hex in capitals', `sha256=${ZTP_HEX.toUpperCase()}`],
    ['no sha256= prefix', ZTP_HEX],
    ['SHA256= in capitals', `SHA256=${ZTP_HEX}`],
    ['sha1=', `sha1=${ZTP_HEX}`],
    ['base64 instead of hex', `sha256=${Buffer.from(ZTP_HEX, 'hex').toString('base64')}`],
    ['a trailing non-hex character', `sha256=${ZTP_HEX}g`],
    ['nothing after the prefix', 'sha256='],
  ])('ZTP signature with %s: invalid-signature', (_label, signature) => {
    expect(refusal(verify(ztpHeaders({ 'X-Ztp-Signature': signature }))).code).toBe('invalid-signature');
  });

  const sig = Buffer.from(STANDARD_BASE64, 'base64');
  it.each([
    ['43 characters without padding', `v1,${STANDARD_BASE64.slice(0, -1)}`],
    ['31 bytes', `v1,${sig.subarray(0, 31).toString('base64')}`],
    ['33 bytes', `v1,${Buffer.concat([sig, Buffer.from([0])]).toString('base64')}`],
    ['hex instead of base64', `v1,${sig.toString('hex')}`],
    ['base64url characters', `v1,${sig.toString('base64url')}=`],
    ['another spelling of the same bytes (unused low bits set)', `v1,${respelt(STANDARD_BASE64)}`],
    ['an empty signature', 'v1,'],
  ])('Standard Webhooks signature with %s: invalid-signature', (_label, signature) => {
    expect(refusal(verify(standardHeaders({ 'webhook-signature': signature }))).code).toBe('invalid-signature');
  });

  it.each([['id with a space'], ['é-accented'], ['x'.repeat(257)]])('refuses webhook-id %j: 1-256 visible ASCII characters', (id) => {
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(T), 'webhook-signature': `v1,${hmacBase64(`${id}.${T}.${BODY}`)}` };
    expect(refusal(verify(headers)).code).toBe('invalid-signature');
    expect(() => signStandardWebhooks(KEY, id, BODY, T)).toThrow(RangeError);
  });

  it('sign functions refuse a timestamp that is not whole seconds', () => {
    for (const ts of [T + 0.5, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => signZtp(KEY, BODY, ts)).toThrow(RangeError);
      expect(() => signStandardWebhooks(KEY, 'id', BODY, ts)).toThrow(RangeError);
    }
  });
});

describe('header names', () => {
  it('are found whatever their case, through Headers (as HttpRequest.headers.get does)', () => {
    const ztp = new Headers({ 'X-ZTP-TIMESTAMP': String(T), 'x-ztp-SIGNATURE': `sha256=${ZTP_HEX}` });
    expect(verifyWebhookSignature((name) => ztp.get(name), BODY_BYTES, [KEY], NOW)).toMatchObject({ ok: true, scheme: 'ztp' });
    const standard = new Headers({
      'Webhook-Id': 'msg_2026-01-01',
      'WEBHOOK-TIMESTAMP': String(T),
      'Webhook-Signature': `v1,${STANDARD_BASE64}`,
    });
    expect(verifyWebhookSignature((name) => standard.get(name), BODY_BYTES, [KEY], NOW)).toMatchObject({
      ok: true,
      scheme: 'standard-webhooks',
    });
  });

  it('are found whatever their case through headerLookup over a plain object', () => {
    expect(verify({ 'x-Ztp-TimeStamp': String(T), 'X-ZTP-Signature': `sha256=${ZTP_HEX}` }).ok).toBe(true);
    const lookup = headerLookup({ 'Webhook-Signature': ['v1,AAAA', `v1,${STANDARD_BASE64}`], 'webhook-id': undefined });
    expect(lookup('WEBHOOK-SIGNATURE')).toBe(`v1,AAAA, v1,${STANDARD_BASE64}`);
    expect(lookup('webhook-id')).toBeUndefined();
  });
});

describe('both schemes in one request', () => {
  const badZtp = { 'X-Ztp-Timestamp': String(T), 'X-Ztp-Signature': `sha256=${'0'.repeat(64)}` };
  const badStandard = {
    'webhook-id': 'msg_x',
    'webhook-timestamp': String(T),
    'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}`,
  };

  it('valid when Standard Webhooks verifies, and then the webhook-id is reported', () => {
    expect(verify({ ...badZtp, ...standardHeaders() })).toMatchObject({
      ok: true,
      scheme: 'standard-webhooks',
      webhookId: 'msg_2026-01-01',
    });
    expect(verify({ ...ztpHeaders(), ...standardHeaders() })).toMatchObject({ ok: true, scheme: 'standard-webhooks' });
  });

  it('valid when only the ZTP signature verifies, and an unverified webhook-id is not reported', () => {
    const check = verify({ ...ztpHeaders(), ...badStandard });
    expect(check).toEqual({ ok: true, scheme: 'ztp', timestamp: T });
  });

  it('refused when neither verifies, with both reasons', () => {
    const check = refusal(verify({ ...badZtp, ...badStandard }));
    expect(check.code).toBe('invalid-signature');
    expect(check.message).toContain('X-Ztp-Signature');
    expect(check.message).toContain('webhook-signature');
  });

  it('a verified but stale signature outranks one that does not verify', () => {
    const check = refusal(verify({ ...badZtp, ...signStandardWebhooks(KEY, 'id-1', BODY, T - 3600) }));
    expect(check.code).toBe('stale-timestamp');
  });
});

describe('messages', () => {
  it('never contain a signature, the body or a secret', () => {
    const requests: Record<string, string>[] = [
      ztpHeaders({ 'X-Ztp-Signature': `sha256=${ZTP_HEX.replace(/^./, 'f')}` }),
      ztpHeaders({ 'X-Ztp-Timestamp': String(T - 3600) }),
      signZtp(KEY, BODY, T - 3600),
      standardHeaders({ 'webhook-signature': `v1,${STANDARD_BASE64.replace(/^./, 'A')} v2,${STANDARD_BASE64}` }),
      signStandardWebhooks(KEY, 'id-1', BODY, T + 3600),
      { 'X-Ztp-Signature': `sha256=${ZTP_HEX}` },
      { ...ztpHeaders(), 'X-Ztp-Timestamp': `${T}; ${BODY}` },
    ];
    for (const headers of requests) {
      const { message } = refusal(verify(headers, BODY_BYTES, [KEY, Buffer.from('second-secret-0123456789')]));
      for (const value of [
        ZTP_HEX,
        ZTP_HEX.slice(8, 24),
        STANDARD_BASE64.slice(1, 20),
        BODY,
        'INC0012345',
        'jane.doe',
        SECRET,
        'second-secret',
      ]) {
        expect(message, JSON.stringify(headers)).not.toContain(value);
      }
    }
  });
});

describe('property: any single flipped bit is refused', () => {
  const requests = fc.record({
    body: fc.uint8Array({ maxLength: 300 }),
    key: fc.uint8Array({ minLength: 16, maxLength: 64 }),
    id: fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
    offset: fc.integer({ min: -300, max: 300 }),
    scheme: fc.constantFrom('ztp' as const, 'standard-webhooks' as const),
  });
  const flips = fc.record({
    target: fc.constantFrom('body' as const, 'timestamp' as const, 'signature' as const),
    position: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  });

  it('in the body, the timestamp header or the signature header', () => {
    fc.assert(
      fc.property(requests, flips, ({ body, key, id, offset, scheme }, { target, position, bit }) => {
        const keyBuffer = Buffer.from(key);
        const headers = scheme === 'ztp' ? signZtp(keyBuffer, body, T + offset) : signStandardWebhooks(keyBuffer, id, body, T + offset);
        const names =
          scheme === 'ztp'
            ? { timestamp: 'X-Ztp-Timestamp', signature: 'X-Ztp-Signature' }
            : { timestamp: 'webhook-timestamp', signature: 'webhook-signature' };
        expect(verify(headers, body, [keyBuffer]).ok).toBe(true);

        if (target === 'body') {
          fc.pre(body.length > 0);
          const flipped = Uint8Array.from(body);
          flipped[position % body.length]! ^= 1 << bit;
          expect(verify(headers, flipped, [keyBuffer]).ok).toBe(false);
        } else {
          const name = names[target];
          const value = headers[name]!;
          const at = position % value.length;
          const flipped = value.slice(0, at) + String.fromCharCode(value.charCodeAt(at) ^ (1 << bit)) + value.slice(at + 1);
          expect(verify({ ...headers, [name]: flipped }, body, [keyBuffer]).ok).toBe(false);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/** The parts of the `standardwebhooks` package the cross-check uses. */
interface StandardWebhooksPackage {
  Webhook: new (
    secret: string,
    options?: { format?: 'raw' },
  ) => {
    sign(id: string, timestamp: Date, payload: string): string;
    verify(payload: string, headers: Record<string, string>): unknown;
  };
}

// A devDependency for this cross-check only; without it the cross-check is skipped.
const packageName = 'standardwebhooks';
const standardwebhooks = (await import(packageName).catch(() => undefined)) as StandardWebhooksPackage | undefined;

describe.skipIf(standardwebhooks === undefined)('cross-check with the standardwebhooks package', () => {
  const { Webhook } = standardwebhooks ?? ({} as StandardWebhooksPackage);
  const whsec = `whsec_${Buffer.from('cross-check-key-bytes-0123456789').toString('base64')}`;
  const raw = 'a-plain-ascii-secret-0123456789';
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  it.each([
    ['a whsec_ secret', whsec, undefined],
    ['a raw secret', raw, { format: 'raw' as const }],
  ])('its signature verifies with ours (%s)', (_label, secret, options) => {
    const signature = new Webhook(secret, options).sign('msg_cross_1', new Date(T * 1000), BODY);
    const headers = { 'webhook-id': 'msg_cross_1', 'webhook-timestamp': String(T), 'webhook-signature': signature };
    expect(verify(headers, BODY_BYTES, webhookKeys(secret))).toMatchObject({ ok: true, webhookId: 'msg_cross_1' });
    expect(verify(headers, Buffer.from(`${BODY} `), webhookKeys(secret)).ok).toBe(false);
  });

  it.each([
    ['a whsec_ secret', whsec, undefined],
    ['a raw secret', raw, { format: 'raw' as const }],
  ])('our signature verifies with it (%s)', (_label, secret, options) => {
    const headers = signStandardWebhooks(webhookKeys(secret)[0]!, 'msg_cross_2', BODY, nowSeconds());
    expect(new Webhook(secret, options).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    const other = signStandardWebhooks(Buffer.from('another-secret-0123456789'), 'msg_cross_2', BODY, nowSeconds());
    expect(() => new Webhook(secret, options).verify(BODY, other)).toThrow();
  });

  it('agrees on the specification example', () => {
    expect(new Webhook(SPEC.secret).sign(SPEC.id, new Date(SPEC.timestamp * 1000), SPEC.body)).toBe(SPEC.signature);
  });
});

function hmacHex(data: string): string {
  return createHmac('sha256', KEY).update(data, 'utf8').digest('hex');
}

function hmacBase64(data: string): string {
  return createHmac('sha256', KEY).update(data, 'utf8').digest('base64');
}

/** The same 32 bytes spelt differently: the last of 43 characters carries two unused low bits. */
function respelt(base64: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const other = `${base64.slice(0, 42)}${alphabet[alphabet.indexOf(base64[42]!) ^ 1]!}=`;
  if (!Buffer.from(other, 'base64').equals(Buffer.from(base64, 'base64'))) throw new Error('not a respelling');
  return other;
}
