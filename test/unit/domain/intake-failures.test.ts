import { describe, expect, it } from 'vitest';
import { readDeadLetteredEvents, readPoisonBlobMessage } from '../../../shared/domain/intake-failures.js';

const poison = {
  FunctionId: 'Host.Functions.intakeHashFile',
  BlobType: 'BlockBlob',
  ContainerName: 'hash-uploads',
  BlobName: 'contoso/batch 7.csv',
  ETag: '"0x8D1DC6E70A277EF"',
};

/** A BlobCreated event as Event Grid dead-letters it (EventGridSchema plus its dead-letter fields). */
const deadLettered = (blobName: string, container = 'hash-uploads') => ({
  id: 'b4b2e2a8-0001',
  topic: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st',
  subject: `/blobServices/default/containers/${container}/blobs/${blobName}`,
  eventType: 'Microsoft.Storage.BlobCreated',
  eventTime: '2026-11-30T10:00:00.000Z',
  data: {
    api: 'PutBlob',
    eTag: '0x8DDDEADBEEF',
    contentType: 'text/csv',
    contentLength: 4096,
    blobType: 'BlockBlob',
    url: `https://st.blob.core.windows.net/${container}/${blobName}`,
  },
  dataVersion: '',
  metadataVersion: '1',
  deadLetterReason: 'MaxDeliveryAttemptsExceeded',
  deliveryAttempts: 30,
  lastDeliveryOutcome: 'Unavailable',
  publishTime: '2026-11-30T10:00:01.000Z',
  lastDeliveryAttemptTime: '2026-12-01T09:59:00.000Z',
});

describe('the blob trigger poison message', () => {
  it('is read as plain JSON and as base64, the host default encoding', () => {
    const plain = readPoisonBlobMessage(JSON.stringify(poison), '2026-12-01T10:00:00.000Z');
    const base64 = readPoisonBlobMessage(Buffer.from(JSON.stringify(poison)).toString('base64'), '2026-12-01T10:00:00.000Z');
    expect(plain).toEqual({
      blobName: 'contoso/batch 7.csv',
      etag: '"0x8D1DC6E70A277EF"',
      reason: 'the blob trigger gave up after its retries (Host.Functions.intakeHashFile)',
      attempts: undefined,
      failedAt: '2026-12-01T10:00:00.000Z',
    });
    expect(base64).toEqual(plain);
  });

  it('names no intake file when it is about another container or not the documented shape', () => {
    expect(readPoisonBlobMessage(JSON.stringify({ ...poison, ContainerName: 'other' }), undefined)).toBeUndefined();
    expect(readPoisonBlobMessage(JSON.stringify({ ContainerName: 'hash-uploads' }), undefined)).toBeUndefined();
    expect(readPoisonBlobMessage('not json at all!', undefined)).toBeUndefined();
  });
});

describe('an Event Grid dead-letter blob', () => {
  it('names the intake blob of each event, with the reason Event Grid gives', () => {
    const text = JSON.stringify([deadLettered('contoso/a.csv'), deadLettered('fabrikam/deep/b.csv')]);
    expect(readDeadLetteredEvents(text)).toEqual([
      {
        blobName: 'contoso/a.csv',
        etag: '0x8DDDEADBEEF',
        reason: 'Event Grid dead-lettered the upload event: MaxDeliveryAttemptsExceeded; last delivery Unavailable',
        attempts: 30,
        failedAt: '2026-12-01T09:59:00.000Z',
      },
      expect.objectContaining({ blobName: 'fabrikam/deep/b.csv' }),
    ]);
  });

  it('leaves out events about other containers and anything unreadable', () => {
    expect(readDeadLetteredEvents(JSON.stringify([deadLettered('x.csv', 'elsewhere'), { subject: 42 }]))).toEqual([]);
    expect(readDeadLetteredEvents('{truncated')).toEqual([]);
    // A single event not wrapped in an array is still read.
    expect(readDeadLetteredEvents(JSON.stringify(deadLettered('contoso/c.csv')))).toHaveLength(1);
  });
});
