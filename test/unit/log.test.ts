import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { censorSensitive, createLogger, SENSITIVE_KEYS } from '../../shared/log.js';

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
    ]) {
      expect(SENSITIVE_KEYS.has(key), key).toBe(true);
    }
  });
});
