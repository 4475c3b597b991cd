import { describe, expect, it } from 'vitest';
import { RETAG, retagMessage, retagPayloadSchema, retagQueue } from '../../../shared/messages/retag.js';

describe('retagMessage', () => {
  it('is a retag on the follow-up queue, carrying the payload as given', () => {
    const message = retagMessage({ serialNumber: 'PF3K-0042', generation: 4 }, 'corr-1');
    expect(message).toEqual({
      kind: RETAG,
      correlationId: 'corr-1',
      messageId: 'retag:PF3K-0042:4',
      payload: { serialNumber: 'PF3K-0042', generation: 4 },
    });
    expect(retagQueue).toBe('ztp-followup');
    expect(retagPayloadSchema.safeParse(message.payload).success).toBe(true);
  });

  // One re-tag per device generation: a repeated file row sends it again, to be dropped.
  it.each([
    ['the same device and generation', 'PF3K-0042', 4, true],
    ['the next generation', 'PF3K-0042', 5, false],
    ['another device', 'PF3K-0043', 4, false],
    // Serial and generation must not run into each other.
    ['a serial ending in the generation', 'PF3K-0042:4', 4, false],
  ] as const)('%s: same id $3', (_, serialNumber, generation, same) => {
    const a = retagMessage({ serialNumber: 'PF3K-0042', generation: 4 }, 'corr-1').messageId;
    const b = retagMessage({ serialNumber, generation }, 'corr-2').messageId;
    expect(a === b).toBe(same);
  });

  // The intake may resend a re-tag from a later file, with the serial spelt as that file spells it.
  it('is the same for the same serial in any case or padding', () => {
    const a = retagMessage({ serialNumber: 'pf3k-0042 ', generation: 4 }, 'corr-1').messageId;
    expect(a).toBe(retagMessage({ serialNumber: 'PF3K-0042', generation: 4 }, 'corr-2').messageId);
  });

  // Validation lets serials through up to 128 characters; Service Bus takes ids up to 128.
  it('fits Service Bus with room for a rescheduled copy, for the longest serial', () => {
    const long = retagMessage({ serialNumber: 'X'.repeat(128), generation: 12 }, 'corr-1').messageId;
    const other = retagMessage({ serialNumber: `${'X'.repeat(127)}Y`, generation: 12 }, 'corr-1').messageId;
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).not.toBe(other);
  });
});
