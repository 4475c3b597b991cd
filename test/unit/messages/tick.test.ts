import { describe, expect, it } from 'vitest';
import { TICK, TICK_NAMES, tickMessage, tickPayloadSchema, tickQueue, type TickPayload } from '../../../shared/messages/tick.js';

const AT = '2026-03-02T12:00:00.000Z';
const base: TickPayload = { tick: 'imports', at: AT, idle: 0 };

describe('tickMessage', () => {
  it('is one run of a poll on the follow-up queue', () => {
    const message = tickMessage(base, 'corr-1');
    expect(message).toEqual({ kind: TICK, correlationId: 'corr-1', messageId: `tick:imports:${Date.parse(AT)}`, payload: base });
    expect(tickQueue).toBe('ztp-followup');
    expect(TICK_NAMES).toEqual(['imports', 'autopilot', 'reprovision']);
    expect(tickPayloadSchema.safeParse(message.payload).success).toBe(true);
  });

  // However many callers schedule the same run, and with whatever they carry, one is sent.
  it.each<[string, TickPayload, boolean]>([
    ['the same run', { ...base }, true],
    ['the same run, idle longer', { ...base, idle: 4 }, true],
    ['the same run, with records to clean up', { ...base, cleanup: ['rec-1'] }, true],
    ['the same instant written without milliseconds', { ...base, at: '2026-03-02T12:00:00Z' }, true],
    ['the same instant in another offset', { ...base, at: '2026-03-02T13:00:00.000+01:00' }, true],
    ['the other poll at the same time', { ...base, tick: 'autopilot' }, false],
    ['a millisecond later', { ...base, at: '2026-03-02T12:00:00.001Z' }, false],
    ['the next run', { ...base, at: '2026-03-02T12:05:00.000Z' }, false],
  ])('%s: same id $2', (_, payload, same) => {
    expect(tickMessage(payload, 'corr-2').messageId === tickMessage(base, 'corr-1').messageId).toBe(same);
  });
});

describe('tick payload', () => {
  // A run is identified by its time: one that does not parse would share the id `tick:<name>:NaN` with every other.
  it.each(['', 'soon', '2026-13-01T00:00:00.000Z', '1764633600000'])('refuses the run time %j', (at) => {
    expect(tickPayloadSchema.safeParse({ tick: 'imports', at, idle: 0 }).success).toBe(false);
  });

  it('takes the ISO time a run is scheduled with', () => {
    expect(tickPayloadSchema.safeParse({ tick: 'imports', at: new Date(0).toISOString(), idle: 0 }).success).toBe(true);
  });
});
