import { describe, expect, it } from 'vitest';
import { parseMessage, QUEUES, redriveMessage, redriveQueue } from '../../../shared/messages/index.js';

describe('redriveMessage', () => {
  const batchId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
  const upload = { blobName: 'contoso/march-again.csv', etag: '"0x8DC0000000000001"' };

  it('asks the follow-up handler to re-drive the stalled devices of a file uploaded again', () => {
    const message = redriveMessage(batchId, upload, 'corr-intake');
    expect(redriveQueue).toBe(QUEUES.followup);
    expect(message).toEqual({
      kind: 'redrive',
      correlationId: 'corr-intake',
      messageId: expect.stringMatching(new RegExp(`^redrive:${batchId}:[0-9a-f]{32}$`)),
      payload: { batchId },
    });
    expect(parseMessage(QUEUES.followup, message)).toMatchObject({ ok: true, message: { kind: 'redrive', payload: { batchId } } });
  });

  // A redelivered trigger for the same upload queues the same id; another upload (a new name, or the same name again) a new one.
  it.each([
    ['the same upload', upload, true],
    ['the same name uploaded again', { ...upload, etag: '"0x8DC0000000000002"' }, false],
    ['another name', { ...upload, blobName: 'contoso/march-third.csv' }, false],
  ] as const)('%s: same id $2', (_, other, same) => {
    expect(redriveMessage(batchId, upload, 'a').messageId === redriveMessage(batchId, other, 'b').messageId).toBe(same);
  });

  it('stays within the id limit, with room for a rescheduled copy', () => {
    expect(redriveMessage(batchId, upload, 'c').messageId.length + 20).toBeLessThanOrEqual(128);
  });
});
