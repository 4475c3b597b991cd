import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { censorSensitive, createLogger, isSensitiveKey } from '../../shared/log.js';

function capture(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const log = createLogger({ level: 'info' }, sink);
  const text = () => chunks.join('');
  return {
    log,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const HASH = 'T0EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==';
const UPN = 'someone@contoso.example';

describe('log censoring', () => {
  it('censors sensitive keys at the top level and two levels down, in objects and arrays', () => {
    const { log, lines, text } = capture();
    log.info(
      {
        event: 'x',
        hardwareHash: HASH,
        detail: { assignedUser: UPN, nested: { token: 'secret-token' }, kept: 'visible' },
        rows: [{ hardwareIdentifier: HASH, serial: 'S-1' }],
      },
      'message',
    );
    const [line] = lines();
    expect(line).toMatchObject({
      event: 'x',
      hardwareHash: '[redacted]',
      detail: { assignedUser: '[redacted]', nested: { token: '[redacted]' }, kept: 'visible' },
      rows: [{ hardwareIdentifier: '[redacted]', serial: 'S-1' }],
    });
    expect(text()).not.toContain(HASH);
    expect(text()).not.toContain(UPN);
    expect(text()).not.toContain('secret-token');
  });

  it('censors the fields of child loggers too', () => {
    const { log, lines, text } = capture();
    log.child({ correlationId: 'c-1', authorization: 'Bearer abc', 'x-ztp-signature': 'sig' }).info({ event: 'y' }, 'child');
    expect(lines()[0]).toMatchObject({ correlationId: 'c-1', authorization: '[redacted]', 'x-ztp-signature': '[redacted]', event: 'y' });
    expect(text()).not.toContain('Bearer abc');
  });

  it('leaves the logged object itself unchanged, and shares what needs no change', () => {
    const detail = { code: 806 };
    const original = { event: 'z', userPrincipalName: UPN, detail };
    const censored = censorSensitive(original);
    expect(original.userPrincipalName).toBe(UPN);
    expect(censored.userPrincipalName).toBe('[redacted]');
    expect(censored.detail).toBe(detail);
    const clean = { event: 'clean', detail };
    expect(censorSensitive(clean)).toBe(clean);
  });

  it('keeps errors for the error serializer', () => {
    const { log, lines } = capture();
    log.error({ event: 'failed', err: new Error('boom') }, 'failed');
    expect(lines()[0]).toMatchObject({ err: { type: 'Error', message: 'boom' } });
  });

  it('covers the keys that carry hashes, user names and secrets', () => {
    for (const key of [
      'hardwareHash',
      'hardwareIdentifier',
      'assignedUser',
      'assignedUserPrincipalName',
      'userPrincipalName',
      'token',
      'authorization',
      'connectionString',
      'signature',
      'x-functions-key',
      'sig',
      'AccountKey',
      'password',
      'cookie',
      'set-cookie',
      'client_secret',
      'x-ztp-signature',
      'webhook-signature',
    ]) {
      expect(isSensitiveKey(key), key).toBe(true);
      expect(isSensitiveKey(key.toUpperCase()), key.toUpperCase()).toBe(true);
    }
    for (const key of ['serial', 'batchId', 'etag', 'messageId', 'correlationId', 'idempotencyKey', 'code']) {
      expect(isSensitiveKey(key), key).toBe(false);
    }
  });
});

describe('log censoring by key, whatever the case', () => {
  const SECRET = 'k3y-' + randomBytes(12).toString('hex');

  it('censors header, query and connection-string names in objects, child fields and errors', () => {
    const { log, text, lines } = capture();
    const headers = {
      Authorization: `Bearer ${SECRET}`,
      'X-Functions-Key': SECRET,
      Cookie: `session=${SECRET}`,
      'Set-Cookie': `session=${SECRET}; HttpOnly`,
      'Proxy-Authorization': SECRET,
    };
    const error = Object.assign(new Error('refused'), { headers, password: SECRET });
    log
      .child({ SIG: SECRET, AccountKey: SECRET, nested: { client_secret: SECRET } })
      .warn({ event: 'x', request: { headers, query: { sig: SECRET, CODE: SECRET.repeat(3) } }, err: error }, 'refused');
    expect(text()).not.toContain(SECRET);
    const [line] = lines();
    expect(line).toMatchObject({
      SIG: '[redacted]',
      AccountKey: '[redacted]',
      nested: { client_secret: '[redacted]' },
      request: { headers: { Authorization: '[redacted]', 'X-Functions-Key': '[redacted]' }, query: { sig: '[redacted]' } },
      err: { message: 'refused', password: '[redacted]', headers: { Cookie: '[redacted]', 'Set-Cookie': '[redacted]' } },
    });
  });

  it('censors a code that looks like a function key, and keeps the error codes the event catalogue documents', () => {
    const functionKey = randomBytes(40).toString('base64');
    const { log, lines, text } = capture();
    log.info({ event: 'a', query: { code: functionKey } });
    log.info({ event: 'b', code: 806, detail: { code: 'ZtdDeviceAlreadyAssigned' } });
    log.info({ event: 'c', code: 'invalid-signature' });
    log.info({ event: 'd', code: 'PropertyValueTooLarge' });
    log.info({ event: 'e', code: 'InvalidAuthenticationTokenTenant' });
    expect(text()).not.toContain(functionKey);
    expect(lines().map((line) => line.code ?? (line.query as { code: unknown }).code)).toEqual([
      '[redacted]',
      806,
      'invalid-signature',
      'PropertyValueTooLarge',
      'InvalidAuthenticationTokenTenant',
    ]);
    expect(lines()[1]).toMatchObject({ detail: { code: 'ZtdDeviceAlreadyAssigned' } });
  });
});

const base64 = (bytes: number) => randomBytes(bytes).toString('base64');
const base64url = (bytes: number) => randomBytes(bytes).toString('base64url');
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const JWT = () =>
  [
    Buffer.from('{"alg":"RS256","typ":"JWT","kid":"k1"}').toString('base64url'),
    Buffer.from(`{"aud":"https://graph.microsoft.com","oid":"${hex(8)}"}`).toString('base64url'),
    base64url(256),
  ].join('.');

interface Shape {
  readonly shape: string;
  /** A line carrying the secret. */
  readonly line: string;
  readonly secret: string;
  /** What must stay, around the censored part. */
  readonly kept: string;
}

function shapes(): Shape[] {
  const functionKey = base64url(40) + '==';
  const sas = encodeURIComponent(base64(32));
  const accountKey = base64(64);
  const busKey = base64(32);
  const jwt = JWT();
  const ztpSignature = hex(32);
  const webhookSignature = base64(32);
  const clientSecret = `Xy8Q~${base64url(30)}`;
  const upn = `jane.doe+${hex(3)}@contoso.onmicrosoft.com`;
  return [
    {
      shape: 'a function key in a URL',
      secret: functionKey,
      line: `GET https://ztp-func.azurewebsites.net/api/devices/SN-1?code=${functionKey} answered 401`,
      kept: 'https://ztp-func.azurewebsites.net/api/devices/SN-1?code=[redacted] answered 401',
    },
    {
      shape: 'a function key after another parameter',
      secret: functionKey,
      line: `https://ztp-func.azurewebsites.net/api/redrive?batch=1&code=${functionKey}#x`,
      kept: '?batch=1&code=[redacted]#x',
    },
    {
      shape: 'a SAS signature',
      secret: sas,
      line: `PUT https://ztpstore.blob.core.windows.net/hash-uploads/contoso/a.csv?sv=2022-11-02&sp=rw&sig=${sas}&se=2030-01-01 failed`,
      kept: '?sv=2022-11-02&sp=rw&sig=[redacted]&se=2030-01-01 failed',
    },
    {
      shape: 'a storage connection string',
      secret: accountKey,
      line: `DefaultEndpointsProtocol=https;AccountName=ztpstore;AccountKey=${accountKey};EndpointSuffix=core.windows.net`,
      kept: 'AccountName=ztpstore;AccountKey=[redacted];EndpointSuffix=core.windows.net',
    },
    {
      shape: 'a storage account key on its own',
      secret: accountKey,
      line: `the key ${accountKey} was rotated`,
      kept: 'the key [redacted] was rotated',
    },
    {
      shape: 'a Service Bus connection string',
      secret: busKey,
      line: `Endpoint=sb://ztp.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${busKey}`,
      kept: 'SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=[redacted]',
    },
    {
      shape: 'a bearer token',
      secret: jwt.split('.')[2]!,
      line: `authorization: Bearer ${jwt}`,
      kept: 'authorization: Bearer [redacted]',
    },
    {
      shape: 'an opaque bearer token',
      secret: 'local-0f4c7c2e-7a3b-4b8e-9d2a-1c5e6f7a8b9c',
      line: 'sent BEARER local-0f4c7c2e-7a3b-4b8e-9d2a-1c5e6f7a8b9c to the simulator',
      kept: 'sent BEARER [redacted] to the simulator',
    },
    { shape: 'a JWT', secret: jwt.split('.')[1]!, line: `token=${jwt.slice(0, -3)}`, kept: 'token=[redacted]' },
    {
      shape: 'a JWT in prose',
      secret: jwt.split('.')[1]!,
      line: `the credential returned ${jwt}, which expired`,
      kept: 'the credential returned [redacted], which expired',
    },
    {
      shape: 'an X-Ztp-Signature',
      secret: ztpSignature,
      line: `X-Ztp-Signature: sha256=${ztpSignature}`,
      kept: 'X-Ztp-Signature: sha256=[redacted]',
    },
    {
      shape: 'a Standard Webhooks signature list',
      secret: webhookSignature,
      line: `webhook-signature: v1,${webhookSignature} v1,${webhookSignature}`,
      kept: 'webhook-signature: v1,[redacted] v1,[redacted]',
    },
    {
      shape: 'a client secret in a token request',
      secret: clientSecret,
      line: `grant_type=client_credentials&client_id=abc&client_secret=${clientSecret}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default`,
      kept: 'client_id=abc&client_secret=[redacted]&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default',
    },
    {
      shape: 'a user principal name',
      secret: upn,
      line: `assigned to ${upn}.`,
      kept: 'assigned to [redacted].',
    },
    { shape: 'a user principal name first', secret: upn, line: `${upn} signed in`, kept: '[redacted] signed in' },
    { shape: 'a storage account key alone', secret: accountKey, line: accountKey, kept: '[redacted]' },
    { shape: 'a JWT alone', secret: jwt.split('.')[1]!, line: jwt, kept: '[redacted]' },
    {
      shape: 'a user principal name in quotes',
      secret: upn.split('@')[0]!,
      line: `user "${upn}" not found`,
      kept: 'user "[redacted]" not found',
    },
  ];
}

/** Every place a string can reach a log line. */
function logEverywhere(log: ReturnType<typeof createLogger>, line: string): void {
  log.info(line);
  log.info({ event: 'nested', a: { b: { c: { d: { e: [{ f: line }] } } } } }, 'nested');
  log.info({ event: 'url', url: line, list: [line, line] }, 'in a field');
  log.info({ event: 'printf' }, 'formatted: %s', line);
  const error = new Error(`request failed: ${line}`);
  log.error({ event: 'err', err: error }, 'error');
  log.error(Object.assign(new Error('outer', { cause: new Error(line) }), { url: line, response: { body: line } }));
  log.child({ correlationId: 'c-1', request: line, deeper: { value: line } }).info({ event: 'child' }, 'child');
  log.child({ correlationId: 'c-1' }).child({ grand: line }).warn('grandchild');
}

describe('log censoring by shape', () => {
  it.each(shapes().map((shape) => [shape.shape, shape] as const))('censors %s wherever it is logged', (_label, shape) => {
    const { log, text, lines } = capture();
    logEverywhere(log, shape.line);
    const all = text();
    expect(all).not.toContain(shape.secret);
    expect(all).toContain('[redacted]');
    const parsed = lines();
    expect(parsed).toHaveLength(8);
    // The part around the secret stays readable, in the message and in fields alike.
    expect(parsed[0]!.msg).toContain(shape.kept);
    expect((parsed[2]!.list as string[])[1]).toContain(shape.kept);
    expect((parsed[4]!.err as { message: string; stack: string }).message).toContain(shape.kept);
    expect((parsed[4]!.err as { stack: string }).stack).toContain(shape.kept);
    expect(parsed[6]!.request).toContain(shape.kept);
  });

  it('keeps each line valid JSON when a secret sits beside quotes, newlines, control characters and backslashes', () => {
    for (const shape of shapes()) {
      const { log, text, lines } = capture();
      for (const glue of ['\n', '"', '\\', '\u001b', '\t', '\r\n', '\\n', '\\\\', 'é', '\u2028']) {
        log.info({ event: 'glue', note: `${glue}${shape.line}${glue}` }, `${glue}${shape.line}${glue}`);
      }
      expect(() => lines(), shape.shape).not.toThrow();
      expect(text(), shape.shape).not.toContain(shape.secret);
    }
  });

  it('keeps serials, batch ids, hashes, ETags, message ids, times and error codes', () => {
    const batchId = hex(16);
    const entry = {
      event: 'device.transition',
      serial: 'PF3XK2QZ',
      serials: ['SN-000123', 'CZC1234ABC', '5CG0/12 34', 'R9-ZT.01'],
      batchId,
      contentSha256: hex(32),
      sha256Base64: base64(32),
      md5: base64(16),
      longBase64: base64(96),
      base64Run: base64(66) + '==',
      etag: `W/"datetime'2026-05-01T10%3A00%3A00.1234567Z'"`,
      messageIds: [
        `import:${batchId}:0`,
        'tick:imports:1780308000000',
        'retag:PF3XK2QZ:3',
        `ingest:${hex(32)}`,
        `redrive:${batchId}:${hex(8)}`,
      ],
      correlationId: '2b9f3c6e-1d4a-4f7b-9a0c-5e8d7f6a1b2c',
      importId: 'ztp-6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f',
      at: '2026-05-01T10:00:00.000Z',
      deadlineAt: '2026-05-04T10:00:00Z',
      code: 806,
      reason: 'owned-by-other-tenant',
      groupTag: 'MPS-STD',
      note: 'the bearer token expired; error code=806; retry with v1,v2',
      nextLink: 'https://graph.microsoft.com/beta/deviceManagement/windowsAutopilotDeviceIdentities?$top=999&$skiptoken=RFNwdAIAAQAAA',
      blob: 'hash-uploads/contoso/batch 7.csv',
      stack: 'at file:///srv/node_modules/@azure/data-tables/dist/esm/index.js:1:2 (node_modules/.pnpm/@azure+core@1.2.0/x.js)',
    };
    const { log, lines } = capture();
    log.child({ correlationId: entry.correlationId, batchId }).info(entry, `device ${entry.serial} of ${batchId} at ${entry.at}`);
    const [line] = lines();
    expect(line).toMatchObject(entry);
    expect(line!.msg).toBe(`device PF3XK2QZ of ${batchId} at 2026-05-01T10:00:00.000Z`);
  });

  it('keeps every line valid JSON and every secret out, whatever surrounds it', () => {
    const all = shapes();
    /** Any text that cannot run into a shape: it starts with a space and ends with a newline. */
    const noise = fc.string({ unit: 'binary', maxLength: 30 }).map((text) => ` ${text}\n`);
    fc.assert(
      fc.property(noise, fc.nat(all.length - 1), noise, (before, index, after) => {
        const shape = all[index]!;
        const { log, text, lines } = capture();
        log.info({ event: 'p', note: `${before}${shape.line}${after}` }, `${after}${shape.line}${before}`);
        expect(() => lines()).not.toThrow();
        expect(text()).not.toContain(shape.secret);
      }),
      { numRuns: 500 },
    );
  });
});
