import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { describeIssues, parseEnvelope } from '../../../shared/messages/envelope.js';

/*
 * A poison description goes to the logs and the poison record: it names paths and what was
 * expected there, never a value, as a body may carry anything (a token pasted by mistake).
 */

const SECRET = 'sk_live_51Hc9TOPSECRETvalue';
const PREFIX = 'not a work envelope {kind, correlationId, payload}: ';
const valid = { kind: 'retag', correlationId: 'corr-1', payload: { serialNumber: 'PF3K-0042', generation: 4 } };

describe('parseEnvelope: an envelope', () => {
  it.each<[string, unknown, object]>([
    ['an object', valid, valid],
    ['JSON text', JSON.stringify(valid), valid],
    [
      'JSON text with attempt and work id',
      JSON.stringify({ ...valid, attempt: 2, workId: 'retag:PF3K-0042:4' }),
      { ...valid, attempt: 2, workId: 'retag:PF3K-0042:4' },
    ],
    ['attempt 0', { ...valid, attempt: 0 }, { ...valid, attempt: 0 }],
    // The payload is the kind's business: the envelope only needs one to be there.
    ['a null payload', { ...valid, payload: null }, { ...valid, payload: null }],
    ['a string payload', { ...valid, payload: 'x' }, { ...valid, payload: 'x' }],
    ['an empty correlation id', { ...valid, correlationId: '' }, { ...valid, correlationId: '' }],
  ])('reads %s', (_, body, envelope) => {
    expect(parseEnvelope(body)).toEqual({ ok: true, envelope });
  });

  it('drops fields an envelope does not have', () => {
    const read = parseEnvelope({ ...valid, token: SECRET });
    expect(read.ok && read.envelope).toEqual(valid);
  });
});

describe('parseEnvelope: not an envelope', () => {
  it.each<[string, unknown, string]>([
    ['text that is not JSON', `{"kind": "retag", ${SECRET}`, 'body'],
    ['empty text', '', 'body'],
    ['JSON text of a number', '42', 'body'],
    ['JSON text of an array', JSON.stringify([SECRET]), 'body'],
    ['null', null, 'body'],
    ['undefined', undefined, 'body'],
    ['a number', 42, 'body'],
    ['an array', [1, 2, 3], 'body'],
    ['no kind', { correlationId: 'c', payload: { token: SECRET } }, 'body.kind'],
    ['an empty kind', { ...valid, kind: '' }, 'body.kind'],
    ['a kind that is no string', { ...valid, kind: { token: SECRET } }, 'body.kind'],
    ['no correlation id', { kind: 'retag', payload: {} }, 'body.correlationId'],
    ['a correlation id that is no string', { ...valid, correlationId: 12345 }, 'body.correlationId'],
    ['no payload', { kind: 'retag', correlationId: SECRET }, 'body.payload'],
    ['a negative attempt', { ...valid, attempt: -1 }, 'body.attempt'],
    ['a fractional attempt', { ...valid, attempt: 1.5 }, 'body.attempt'],
    ['an attempt as text', { ...valid, attempt: SECRET }, 'body.attempt'],
    ['an empty work id', { ...valid, workId: '' }, 'body.workId'],
    ['a work id that is no string', { ...valid, workId: [SECRET] }, 'body.workId'],
  ])('refuses %s, naming $2', (_, body, path) => {
    const read = parseEnvelope(body);
    expect(read).toMatchObject({ ok: false, reason: 'not-an-envelope' });
    if (read.ok) return;
    expect(read.description.startsWith(PREFIX)).toBe(true);
    expect(read.description).toContain(`${path}: `);
    expect(read.description).not.toContain(SECRET);
  });

  it('names every field that is missing', () => {
    const read = parseEnvelope({});
    expect(read.ok).toBe(false);
    if (read.ok) return;
    for (const path of ['body.kind', 'body.correlationId', 'body.payload']) expect(read.description).toContain(`${path}: `);
  });
});

describe('describeIssues', () => {
  const schema = z.object({ a: z.string(), b: z.string(), c: z.string(), d: z.string(), e: z.string(), f: z.string(), g: z.string() });

  it('lists at most five issues, each under the prefix', () => {
    const result = schema.safeParse({});
    expect(result.success).toBe(false);
    if (result.success) return;
    const parts = describeIssues(result.error, 'payload').split('; ');
    expect(parts).toHaveLength(5);
    expect(parts.map((part) => part.split(':')[0])).toEqual(['payload.a', 'payload.b', 'payload.c', 'payload.d', 'payload.e']);
  });

  it('names array items by index', () => {
    const result = z.object({ list: z.array(z.number()) }).safeParse({ list: [1, SECRET] });
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(describeIssues(result.error, 'payload')).toMatch(/^payload\.list\.1: /);
    expect(describeIssues(result.error, 'payload')).not.toContain(SECRET);
  });
});
