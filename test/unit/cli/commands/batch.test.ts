import { describe, expect, it } from 'vitest';
import { batchText } from '../../../../cli/commands/batch.js';
import type { BatchRecord } from '../../../../shared/domain/batch.js';

const batch: BatchRecord = {
  batchId: '0123456789abcdef0123456789abcdef',
  supplierId: 'contoso',
  fileName: 'wave-1.csv',
  blobName: 'contoso/wave-1.csv',
  contentSha256: 'x',
  sizeBytes: 100,
  status: 'complete',
  receivedAt: '2026-03-02T09:00:00.000Z',
  completedAt: '2026-03-02T09:00:00.000Z',
  format: undefined,
  encoding: undefined,
  fileRejection: undefined,
  counts: { rows: 3, accepted: 1, rejected: 2 },
  reportBlob: 'contoso/wave-1.csv.result.csv',
  correlationId: 'c',
};

describe('ztp batch: the text', () => {
  it('lists every rejected row, one without a serial too', () => {
    const text = batchText({
      batch,
      devices: { total: 3, byState: { received: 1, rejected: 2 } },
      waitingFor: {},
      moved: 0,
      rejects: [
        { serialNumber: '', line: 3, state: 'rejected', reasons: ['missing-serial'], note: undefined },
        { serialNumber: 'S-1', line: 4, state: 'rejected', reasons: ['duplicate-in-file'], note: undefined },
      ],
    });
    expect(text).toContain(
      [
        'Rejected, failed or stalled devices (2):',
        '  line 3  (no serial)  rejected  missing-serial',
        '  line 4  S-1  rejected  duplicate-in-file',
      ].join('\n'),
    );
  });
});
