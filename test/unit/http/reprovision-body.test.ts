import { describe, expect, it } from 'vitest';
import { parseReprovisionBody } from '../../../shared/http/reprovision-body.js';

/** The webhook's body as product.md defines it: strict, and each refusal names the field, never the value. */

const base = { ticket: 'INC0012345', requestedBy: 'Sam Desk' };

describe('parseReprovisionBody', () => {
  it.each([
    [{ action: 'autopilot-reset', ...base }],
    [{ action: 'wipe', ...base }],
    [{ action: 'fresh-start', ...base }],
    [{ action: 'retag', groupTag: 'MPS-KIOSK', ...base }],
    [{ action: 'deregister', ...base }],
    [{ action: 'deregister', allowReimport: true, ...base }],
    [{ action: 'deregister', allowReimport: false, ...base }],
  ])('accepts %j', (body) => {
    expect(parseReprovisionBody(body)).toEqual({ ok: true, ask: body });
  });

  it.each<[string, unknown, string]>([
    ['a body that is not an object', 'wipe', 'invalid-body'],
    ['a list', [], 'invalid-body'],
    ['null', null, 'invalid-body'],
    ['an unknown field', { action: 'wipe', ...base, priority: 'high' }, 'unknown-field'],
    ['an unknown action', { action: 'reimage', ...base }, 'invalid-action'],
    ['no action', { ...base }, 'invalid-action'],
    ['no ticket', { action: 'wipe', requestedBy: 'x' }, 'missing-field'],
    ['no requestedBy', { action: 'wipe', ticket: 'INC1' }, 'missing-field'],
    ['an empty ticket', { action: 'wipe', ticket: '', requestedBy: 'x' }, 'invalid-field'],
    ['a ticket of 129 characters', { action: 'wipe', ticket: 'T'.repeat(129), requestedBy: 'x' }, 'invalid-field'],
    ['a ticket with a line break', { action: 'wipe', ticket: 'INC1\nINC2', requestedBy: 'x' }, 'invalid-field'],
    ['requestedBy of 129 characters', { action: 'wipe', ticket: 'INC1', requestedBy: 'x'.repeat(129) }, 'invalid-field'],
    ['a ticket that is a number', { action: 'wipe', ticket: 12345, requestedBy: 'x' }, 'invalid-field'],
    ['retag without a tag', { action: 'retag', ...base }, 'missing-group-tag'],
    ['retag with an empty tag', { action: 'retag', groupTag: '', ...base }, 'invalid-field'],
    ['retag with a tag a file could not carry', { action: 'retag', groupTag: 'MPS,STD', ...base }, 'invalid-field'],
    ['retag with a tag of 129 characters', { action: 'retag', groupTag: 'T'.repeat(129), ...base }, 'invalid-field'],
    ['a tag on another action', { action: 'wipe', groupTag: 'MPS-STD', ...base }, 'invalid-field'],
    ['allowReimport on another action', { action: 'wipe', allowReimport: true, ...base }, 'invalid-field'],
    ['allowReimport as text', { action: 'deregister', allowReimport: 'yes', ...base }, 'invalid-field'],
  ])('refuses %s (%s)', (_, body, code) => {
    const parsed = parseReprovisionBody(body);
    expect(parsed).toMatchObject({ ok: false, code });
    // The message names the field; it never repeats what was sent.
    if (!parsed.ok) {
      expect(parsed.message).not.toContain('Sam Desk');
      expect(parsed.message).not.toContain('MPS,STD');
      expect(parsed.message).not.toContain('high');
    }
  });
});
