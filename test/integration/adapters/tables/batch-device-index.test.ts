import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { BatchDeviceRepository } from '../../../../shared/adapters/tables/batch-device-index.js';
import { TableStore, toKey } from '../../../../shared/adapters/tables/table-store.js';
import { countEntries, isListed } from '../../../../shared/domain/batch-counts.js';
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
    const writes = tableOperationCounts()[tableName]!;
    expect(await all(index, 'b-many')).toHaveLength(250);
    // 98 entries and the range's counts row in each, after one look at the new file's own
    // partition (no entries there: a file spread over ranges), the range named there, and one
    // read of the range's partition.
    expect(writes.transaction).toEqual({ requests: 3, entities: 253 });
    expect(writes['partition-query']).toEqual({ requests: 2, entities: 0 });
    expect(writes.upsert).toEqual({ requests: 1, entities: 1 });
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
    await index.markMoved('b-first', { serialNumber: 'SER-6', line: 2 }, 'b-second');
    await index.markMoved('b-first', { serialNumber: 'SER-UNKNOWN', line: 2 }, 'b-second');
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
    await index.markMoved('b-rows', { serialNumber: 'SER-7', line: 2 }, 'b-later');
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

describe('the counts kept with the entries of each file', () => {
  const tableName = `bcnt${randomUUID().replace(/-/g, '')}`;
  let connection: string;
  let index: BatchDeviceRepository;

  beforeAll(async () => {
    connection = inject('storageConnectionString');
    index = BatchDeviceRepository.connect(connection, tableName);
    await index.ensure();
  });

  /** The counts a recount of the stored entries gives, and the entries a summary lists. */
  async function recount(batchId: string) {
    const entries = (await all(index, batchId)).filter((found) => found.eventCount > 0);
    return { counts: countEntries(entries), listed: entries.filter(isListed).length };
  }

  it('equal a recount of the entries after intake, transitions, moves and rejected rows; a summary reads a row per range and the listed ones', async () => {
    const devices = Array.from({ length: 300 }, (_, n) => `SER-C${n}`);
    await Promise.all(devices.map((serial, n) => index.record('b-count', entry(serial, 1, { line: n + 2 }))));
    await Promise.all(
      devices
        .slice(0, 150)
        .map((serial, n) => index.record('b-count', entry(serial, 2, { line: n + 2, state: 'importing', waitingFor: 'import' }))),
    );
    await Promise.all(devices.slice(0, 10).map((serial, n) => index.record('b-count', entry(serial, 3, { line: n + 2, state: 'failed' }))));
    // Two of the failed are retried and leave the list; five devices move to a later file.
    await Promise.all(
      devices.slice(0, 2).map((serial, n) => index.record('b-count', entry(serial, 4, { line: n + 2, state: 'received' }))),
    );
    await Promise.all(
      devices.slice(200, 205).map((serial, n) => index.markMoved('b-count', { serialNumber: serial, line: n + 202 }, 'b-later')),
    );
    await index.record('b-count', entry('SER-REJ', 1, { line: 400, state: 'rejected', accepted: false, reasons: ['invalid-hash'] }));
    await index.recordRejectedRow('b-count', { line: 401, serialNumber: '', reasons: ['missing-serial'] });
    await index.written();

    const { counts, changedAt } = await index.tally('b-count');
    expect(counts).toEqual((await recount('b-count')).counts);
    expect(counts).toEqual({
      byState: { received: 147, importing: 140, failed: 8 },
      waitingFor: { import: 140 },
      moved: 5,
    });
    expect(changedAt).toBeDefined();

    resetTableOperationCounts();
    await index.tally('b-count');
    const listed: BatchDeviceEntry[] = [];
    for await (const found of index.listed('b-count')) listed.push(found);
    expect(listed.map((found) => [found.serialNumber, found.state]).sort()).toEqual(
      [['', 'rejected'], ['SER-REJ', 'rejected'], ...devices.slice(2, 10).map((serial) => [serial, 'failed'])].sort(),
    );
    const reads = tableOperationCounts()[tableName]!;
    const entitiesRead = Object.values(reads).reduce((sum, kind) => sum + kind.entities, 0);
    // The range's counts row, the listed copies (the eight failed, the rejected device, two gone
    // since), the rejected row, and the file's one range named to each read: never the 300 other entries.
    expect(entitiesRead).toBeLessThanOrEqual(1 + 10 + 2 + 2);
    expect(reads.scan).toBeUndefined();
  });

  it('count each device once when two instances write one file at the same moment', async () => {
    const other = BatchDeviceRepository.connect(connection, tableName);
    const devices = Array.from({ length: 120 }, (_, n) => `SER-T${n}`);
    await Promise.all(devices.map((serial, n) => index.record('b-two', entry(serial, 1, { line: n + 2 }))));
    await index.written();
    // Each instance moves its own half, and both write the first twenty (as a redelivery would).
    await Promise.all([
      ...devices
        .slice(0, 70)
        .map((serial, n) => index.record('b-two', entry(serial, 2, { line: n + 2, state: 'importing', waitingFor: 'import' }))),
      ...devices.slice(0, 20).map((serial, n) => other.record('b-two', entry(serial, 3, { line: n + 2, state: 'registered' }))),
      ...devices
        .slice(70)
        .map((serial, n) => other.record('b-two', entry(serial, 2, { line: n + 72, state: 'stalled', waitingFor: 'import' }))),
    ]);
    await Promise.all([index.written(), other.written()]);
    // And the first instance writes again a device the second moved since: it is counted from what is stored.
    await index.record('b-two', entry(devices[100]!, 3, { line: 102, state: 'importing', waitingFor: 'import' }));
    await index.written();

    const stored = await all(index, 'b-two');
    expect(stored.filter((found) => found.state === 'registered')).toHaveLength(20);
    expect((await index.tally('b-two')).counts).toEqual((await recount('b-two')).counts);
    expect((await index.tally('b-two')).counts).toEqual({
      byState: { registered: 20, importing: 51, stalled: 49 },
      waitingFor: { import: 100 },
      moved: 0,
    });
  });

  it('never moves an entry back to an earlier version of its device, whichever transaction comes last', async () => {
    await index.record('b-back', entry('SER-B', 5, { state: 'registered' }));
    await index.written();
    await index.record('b-back', entry('SER-B', 3, { state: 'importing', waitingFor: 'import' }));
    await index.written();
    expect(await all(index, 'b-back')).toMatchObject([{ eventCount: 5, state: 'registered' }]);
    expect((await index.tally('b-back')).counts.byState).toEqual({ registered: 1 });
  });

  it('are taken from the entries of a file written before counts were kept, listed entries with them', async () => {
    const raw = TableStore.connect(connection, tableName);
    const row = (serialNumber: string, state: string, line: number) => ({
      serialNumber,
      line,
      state,
      reasons: '[]',
      waitingFor: state === 'importing' ? 'import' : '',
      eventCount: 2,
      accepted: true,
    });
    await raw.upsert(toKey('b-old'), 'SER-O1', row('SER-O1', 'importing', 2));
    await raw.upsert(toKey('b-old'), 'SER-O2', row('SER-O2', 'failed', 3));
    await raw.upsert(toKey('b-old'), 'SER-O3', row('SER-O3', 'registered', 4));
    await index.record('b-old', entry('SER-O1', 3, { line: 2, state: 'registered' }));
    await index.written();
    expect((await index.tally('b-old')).counts).toEqual({ byState: { registered: 2, failed: 1 }, waitingFor: {}, moved: 0 });
    const listed: string[] = [];
    for await (const found of index.listed('b-old')) listed.push(found.serialNumber);
    expect(listed).toEqual(['SER-O2']);
    // Still one partition: the file's own, where its entries were.
    const partitions = new Set<string>();
    for await (const found of raw.partitionsStartingWith(toKey('b-old'))) partitions.add(found.partitionKey);
    expect([...partitions]).toEqual([toKey('b-old')]);
  });

  it('spread a file over partitions of 1,000 lines, each with its own counts; the summary sums them and lists across them', async () => {
    const raw = TableStore.connect(connection, tableName);
    const devices = Array.from({ length: 2500 }, (_, n) => `SER-S${n}`);
    await Promise.all(devices.map((serial, n) => index.record('b-wide', entry(serial, 1, { line: n + 2 }))));
    // One failed device in each range of lines; a hundred registered in the last.
    const failed = [10, 1500, 2400];
    await Promise.all(failed.map((n) => index.record('b-wide', entry(devices[n]!, 2, { line: n + 2, state: 'failed' }))));
    await Promise.all(
      devices.slice(2300, 2400).map((serial, n) => index.record('b-wide', entry(serial, 2, { line: n + 2302, state: 'registered' }))),
    );
    await index.markMoved('b-wide', { serialNumber: devices[5]!, line: 7 }, 'b-later');
    await index.written();

    const byPartition = new Map<string, number>();
    for await (const found of raw.partitionsStartingWith(toKey('b-wide'))) {
      if (!found.rowKey.startsWith('%')) byPartition.set(found.partitionKey, (byPartition.get(found.partitionKey) ?? 0) + 1);
    }
    // Lines 2-999, 1000-1999, 2000-2501.
    expect(Object.fromEntries(byPartition)).toEqual({
      [`${toKey('b-wide')}~0`]: 998,
      [`${toKey('b-wide')}~1`]: 1000,
      [`${toKey('b-wide')}~2`]: 502,
    });

    const { counts } = await index.tally('b-wide');
    expect(counts).toEqual((await recount('b-wide')).counts);
    expect(counts).toEqual({ byState: { received: 2396, failed: 3, registered: 100 }, waitingFor: {}, moved: 1 });
    const listed: string[] = [];
    for await (const found of index.listed('b-wide')) listed.push(found.serialNumber);
    expect(listed.sort()).toEqual(failed.map((n) => devices[n]!).sort());
    // A fresh reader of the same table (another instance) sums the same.
    const other = BatchDeviceRepository.connect(connection, tableName);
    expect((await other.tally('b-wide')).counts).toEqual(counts);
  });
});
