import { describe, expect, it } from 'vitest';
import { ingestMessage } from '../../../shared/messages/index.js';

describe('ingest message ids', () => {
  const stuck = { blobName: 'contoso/batch-7.csv', cause: 'stuck' as const, batchId: 'b1' };

  it('are the same for the same occasion, so two sweeps that find one stuck file queue one run', () => {
    expect(ingestMessage(stuck, 'b1:1', 'sweep-a').messageId).toBe(ingestMessage(stuck, 'b1:1', 'sweep-b').messageId);
  });

  it('differ for each re-drive of a stuck file, and between a stuck and a poisoned run of one blob', () => {
    const ids = new Set([
      ingestMessage(stuck, 'b1:1', 'c').messageId,
      ingestMessage(stuck, 'b1:2', 'c').messageId,
      ingestMessage({ blobName: stuck.blobName, cause: 'poisoned' }, 'blob-trigger-poison:"0x1"', 'c').messageId,
      ingestMessage({ blobName: stuck.blobName, cause: 'dead-lettered' }, 'event-grid-dead-letter:0x1', 'c').messageId,
    ]);
    expect(ids.size).toBe(4);
  });

  it('fit Service Bus message ids (128 characters) whatever the blob name', () => {
    const id = ingestMessage({ blobName: `contoso/${'x'.repeat(1000)}.csv`, cause: 'poisoned' }, 'e', 'c').messageId;
    expect(id).toMatch(/^ingest:[0-9a-f]{32}$/);
  });
});
