import { describe, expect, it } from 'vitest';
import { requeueMessage } from '../../../shared/messages/index.js';

const requeueMessageId = (devices: readonly { serialNumber: string; generation: number }[]): string =>
  requeueMessage(devices, 'corr').messageId;

describe('requeueMessageId', () => {
  it('is the same for the same devices and generations in any order, and fits Service Bus', () => {
    const a = { serialNumber: 'PF3ABC12', generation: 1 };
    const b = { serialNumber: 'x'.repeat(128), generation: 2 };
    expect(requeueMessageId([a, b])).toBe(requeueMessageId([b, a]));
    expect(requeueMessageId([{ ...a, serialNumber: ' pf3abc12 ' }, b])).toBe(requeueMessageId([a, b]));
    expect(requeueMessageId([a, b])).not.toBe(requeueMessageId([{ ...a, generation: 2 }, b]));
    expect(requeueMessageId([a])).not.toBe(requeueMessageId([a, b]));
    expect(requeueMessageId([a, b]).length).toBeLessThanOrEqual(128);
  });
});
