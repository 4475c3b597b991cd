import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { BatchDeviceRepository } from '../../../../shared/adapters/tables/batch-device-index.js';
import { resetTableOperationCounts, tableOperationCounts } from '../../../../shared/adapters/tables/table-metrics.js';
import type { BatchDeviceEntry } from '../../../../shared/services/ports.js';

const entry = (serialNumber: string, eventCount: number, fields: Partial<BatchDeviceEntry> = {}): Omit<BatchDeviceEntry, 'movedTo'> => ({
  serialNumber,
  line: 2,
  state: 'received',
  reasons: [],
  note: undefined,
  waitingFor: undefined,
  eventCount,
  accepted: true,
  ...fields,
});

async function all(index: BatchDeviceRepository, batchId: string): Promise<BatchDeviceEntry[]> {
  const found: BatchDeviceEntry[] = [];
  for await (const item of index.entries(batchId)) found.push(item);
  return found;
}

describe('BatchDeviceRepository against Azurite', () => {
  let index: BatchDeviceRepository;
  const tableName = `bdev${randomUUID().replace(/-/g, '')}`;

  beforeAll(async () => {
    index = BatchDeviceRepository.connect(inject('storageConnectionString'), tableName);
    await index.ensure();
  });

  it('keeps one entry per device of a file, keyed like the devices (a serial with / and # too)', async () => {
    await index.record('b-keys', entry('ser/1#a', 1));
    await index.record('b-keys', entry('SER/1#A', 2, { state: 'importing', waitingFor: 'import' }));
    await index.record('b-other', entry('SER-2', 1));
    expect(await all(index, 'b-keys')).toEqual([
      { ...entry('SER/1#A', 2, { state: 'importing', waitingFor: 'import' }), movedTo: undefined },
    ]);
  });

  it('of writes of one entry arriving together, keeps the latest version of the device, whatever their order', async () => {
    await Promise.all([
      index.record('b-order', entry('SER-3', 3, { state: 'registered', reasons: ['already-registered'] })),
      index.record('b-order', entry('SER-3', 2, { state: 'importing' })),
    ]);
    expect(await all(index, 'b-order')).toMatchObject([{ state: 'registered', reasons: ['already-registered'], eventCount: 3 }]);
    // A later write clears what the device no longer has (a Merge keeps what it is not given).
    await index.record('b-order', entry('SER-3', 4, { state: 'profile-assigned', reasons: [], note: undefined, waitingFor: undefined }));
    expect(await all(index, 'b-order')).toMatchObject([{ state: 'profile-assigned', reasons: [], note: undefined, waitingFor: undefined }]);
  });

  it('writes the entries of many devices of a file in a few transactions', async () => {
    resetTableOperationCounts();
    await Promise.all(Array.from({ length: 250 }, (_, n) => index.record('b-many', entry(`SER-M${n}`, 1, { line: n + 2 }))));
    expect(await all(index, 'b-many')).toHaveLength(250);
    const writes = tableOperationCounts()[tableName]!;
    expect(writes.transaction).toEqual({ requests: 3, entities: 250 });
    expect(writes.upsert).toBeUndefined();
  });

  it('leaves the state of the latest of many concurrent writes', async () => {
    const writes = [1, 2, 3, 4, 5, 6].map((n) => index.record('b-race', entry('SER-4', n, { line: n })));
    await Promise.all(writes);
    expect(await all(index, 'b-race')).toMatchObject([{ eventCount: 6, line: 6 }]);
  });

  it('keeps whether the file accepted the device from the write that brought it in', async () => {
    await index.record('b-accept', entry('SER-5', 1, { state: 'rejected', accepted: false, reasons: ['invalid-hash'] }));
    const { accepted: _accepted, ...later } = entry('SER-5', 2, { state: 'rejected', reasons: ['invalid-hash'] });
    await index.record('b-accept', later);
    expect(await all(index, 'b-accept')).toMatchObject([{ accepted: false, eventCount: 2 }]);
  });

  it('marks a device a later file took, and keeps its last state in the earlier file', async () => {
    await index.record('b-first', entry('SER-6', 4, { state: 'stalled', waitingFor: 'import' }));
    await index.markMoved('b-first', 'SER-6', 'b-second');
    await index.markMoved('b-first', 'SER-UNKNOWN', 'b-second');
    await index.record('b-first', entry('SER-6', 5, { state: 'stalled' }));
    expect(await all(index, 'b-first')).toEqual([{ ...entry('SER-6', 5, { state: 'stalled' }), movedTo: 'b-second' }]);
  });

  it('keeps a rejected row that recorded no device as an entry of its own, keyed by its line: written again, still one', async () => {
    const row = (line: number, serialNumber: string, reasons: string[]) => ({ line, serialNumber, reasons });
    await index.recordRejectedRow('b-rows', row(3, '', ['missing-serial']));
    await index.recordRejectedRow('b-rows', row(3, '', ['missing-serial']));
    // A row repeating a serial, beside the device its first row recorded.
    await index.record('b-rows', entry('SER-7', 1, { line: 2 }));
    await index.recordRejectedRow('b-rows', row(4, 'SER-7', ['duplicate-in-file']));
    // A device whose serial looks like a row key keeps an entry of its own.
    await index.record('b-rows', entry('%ROW0000000005', 1, { line: 6 }));
    await index.recordRejectedRow('b-rows', row(5, 'SER-8', ['owned-by-other-supplier']));
    await index.markMoved('b-rows', 'SER-7', 'b-later');
    const rejected = (line: number, serialNumber: string, reasons: string[]): BatchDeviceEntry => ({
      ...entry(serialNumber, 0, { line, state: 'rejected', accepted: false, reasons }),
      movedTo: undefined,
    });
    const found = await all(index, 'b-rows');
    expect(found.sort((a, b) => a.line - b.line)).toEqual([
      { ...entry('SER-7', 1, { line: 2 }), movedTo: 'b-later' },
      rejected(3, '', ['missing-serial']),
      rejected(4, 'SER-7', ['duplicate-in-file']),
      rejected(5, 'SER-8', ['owned-by-other-supplier']),
      { ...entry('%ROW0000000005', 1, { line: 6 }), movedTo: undefined },
    ]);
  });
});
