import type { StorageAccess } from '../storage-access.js';
import { systemClock, type Clock } from '../../domain/clock.js';
import { serialKey } from '../../domain/device.js';
import type { BatchDeviceEntry, BatchDeviceIndex, BatchTally, RejectedRowEntry } from '../../services/ports.js';
import { sumCounts } from '../../domain/batch-counts.js';
import { COUNTS_ROW, CountedEntries, ENTRY_COLUMNS, entryFromRow, entryToRow, isDeviceRow } from './counted-entries.js';
import { odataString, TableStore, toKey, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * The devices of each file (`batchdevices`). A file's device entries are spread over
 * partitions of 1,000 lines (`<batch id>~<line / 1000>`, row key = the device's serial key),
 * each with its own counts row: Table Storage serves a partition from one server (a target of
 * 2,000 entities/s), and a file of 10,000 devices moving at once would be one hot partition.
 * Entries are gathered with those of the neighbouring lines moving at the same moment and
 * written, ETag-guarded, in one transaction with their range's counts row
 * (`CountedEntries`): following a device costs a fraction of a round trip, and the file's
 * summary reads its ranges' counts and listed entries, not the file. A write never replaces
 * an entry with a higher `eventCount`.
 *
 * The file's own partition (`<batch id>`) names its ranges (`%RANGE` and the range, written
 * before the range's first entry, so a summary never misses one) and holds its rejected rows.
 * A file written before entries were spread keeps its entries and counts there, and is
 * written there still: each device is counted in exactly one partition.
 *
 * A rejected row that recorded no device under the file (no serial, a serial repeated, a
 * device the row leaves alone, a value the storage refused) is keyed by its line instead:
 * `%ROW` and the line in ten digits. That never collides with a device's key: `toKey` escapes
 * every `%` of a serial, so in a device's key a `%` is always followed by two upper-case hex
 * digits, and `R` is none.
 */

type Row = EntityProps;

const rowKeyOf = (line: number): string => `%ROW${String(line).padStart(10, '0')}`;

/** Lines per partition of a file's device entries. */
export const LINES_PER_PARTITION = 1000;
const RANGE_PREFIX = '%RANGE';
const rangeRowKey = (range: number): string => `${RANGE_PREFIX}${String(range).padStart(10, '0')}`;
const rangePartition = (head: string, range: string | number): string => `${head}~${range}`;
/** Files and ranges whose layout or marker this process knows; forgotten beyond this (and read again). */
const MAX_REMEMBERED = 10_000;

/** Where a file's device entries are: spread over ranges of lines, or (written before that) in the file's own partition. */
type Layout = 'ranges' | 'single';

type EntryWrite = Omit<BatchDeviceEntry, 'movedTo' | 'accepted'> & { readonly accepted?: boolean };

export class BatchDeviceRepository implements BatchDeviceIndex {
  private readonly writes: CountedEntries;
  private readonly layouts = new Map<string, Promise<Layout>>();
  private readonly markers = new Map<string, Promise<void>>();

  constructor(
    private readonly store: TableStore<Row>,
    now: Clock = systemClock,
  ) {
    // Nobody waits on an entry for long: gather those of a file's devices moving together.
    this.writes = new CountedEntries(store, now, 500);
  }

  static connect(
    storage: StorageAccess | string,
    tableName: string = TABLES.batchDevices,
    now: Clock = systemClock,
  ): BatchDeviceRepository {
    return new BatchDeviceRepository(TableStore.connect<Row>(storage, tableName), now);
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async record(batchId: string, entry: EntryWrite): Promise<void> {
    const partition = await this.partitionOf(batchId, entry.line);
    return this.writes.change(partition, toKey(serialKey(entry.serialNumber)), (stored) => {
      if (stored !== undefined && stored.eventCount > entry.eventCount) return undefined;
      // Whether the file accepted the device is decided by the write that brings it into the file; a move is kept.
      return { ...entry, accepted: entry.accepted ?? stored?.accepted ?? true, movedTo: stored?.movedTo };
    });
  }

  async recordRejectedRow(batchId: string, row: RejectedRowEntry): Promise<void> {
    // Every run of the file writes the same row the same way, so a plain upsert is idempotent.
    const entry: BatchDeviceEntry = {
      ...row,
      state: 'rejected',
      note: undefined,
      waitingFor: undefined,
      eventCount: 0,
      accepted: false,
      movedTo: undefined,
    };
    await this.store.upsert(toKey(batchId), rowKeyOf(row.line), entryToRow(entry));
  }

  async markMoved(batchId: string, device: Pick<BatchDeviceEntry, 'serialNumber' | 'line'>, movedTo: string): Promise<void> {
    const partition = await this.partitionOf(batchId, device.line);
    return this.writes.change(partition, toKey(serialKey(device.serialNumber)), (stored) =>
      stored === undefined || stored.movedTo === movedTo ? undefined : { ...stored, movedTo },
    );
  }

  /** Resolves once every entry this repository has written so far is stored (another reader then sees it). */
  written(): Promise<void> {
    return this.writes.idle();
  }

  async tally(batchId: string): Promise<BatchTally> {
    await this.writes.idle();
    const head = toKey(batchId);
    const parts = await Promise.all([head, ...(await this.rangesOf(head))].map((partition) => this.writes.counts(partition)));
    const changed = parts.flatMap((part) => (part.changedAt === undefined ? [] : [part.changedAt])).sort();
    return { counts: sumCounts(parts.map((part) => part.counts)), changedAt: changed.at(-1) };
  }

  async *listed(batchId: string): AsyncGenerator<BatchDeviceEntry> {
    await this.writes.idle();
    const head = toKey(batchId);
    for (const partition of [head, ...(await this.rangesOf(head))]) yield* this.writes.listed(partition);
    for await (const row of this.store.partition(head, '%ROW')) yield entryFromRow(row.value);
  }

  async *entries(batchId: string): AsyncGenerator<BatchDeviceEntry> {
    // What this process wrote is read back: entries still gathering go out first.
    await this.writes.idle();
    const head = toKey(batchId);
    for await (const row of this.store.query(`PartitionKey eq ${odataString(head)}`, [...ENTRY_COLUMNS, 'RowKey'])) {
      if (isDeviceRow(row.rowKey) || row.rowKey.startsWith('%ROW')) yield entryFromRow(row.value);
    }
    for await (const row of this.store.partitionsStartingWith(rangePartition(head, ''), [...ENTRY_COLUMNS, 'RowKey'])) {
      if (isDeviceRow(row.rowKey)) yield entryFromRow(row.value);
    }
  }

  /** The partitions of the file's ranges, as its own partition names them. */
  private async rangesOf(head: string): Promise<string[]> {
    const ranges: string[] = [];
    for await (const row of this.store.partition(head, RANGE_PREFIX))
      ranges.push(rangePartition(head, Number(row.rowKey.slice(RANGE_PREFIX.length))));
    return ranges;
  }

  /** The partition of the entry at `line` of the file; its range is named in the file's partition first. */
  private async partitionOf(batchId: string, line: number): Promise<string> {
    const head = toKey(batchId);
    if ((await remembered(this.layouts, head, () => this.layoutOf(head))) === 'single') return head;
    const range = Math.floor(line / LINES_PER_PARTITION);
    const partition = rangePartition(head, range);
    await remembered(this.markers, partition, async () => {
      await this.store.upsert(head, rangeRowKey(range), { range });
    });
    return partition;
  }

  /** A file whose own partition holds device entries or counts was written before entries were spread. */
  private async layoutOf(head: string): Promise<Layout> {
    for await (const row of this.store.query(`PartitionKey eq ${odataString(head)}`, ['RowKey'])) {
      if (row.rowKey === COUNTS_ROW || isDeviceRow(row.rowKey)) return 'single';
    }
    return 'ranges';
  }
}

/** The settled or pending value for `key`, made once; a failure is forgotten, so the next caller tries again. */
function remembered<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  const known = cache.get(key);
  if (known !== undefined) return known;
  if (cache.size >= MAX_REMEMBERED) cache.clear();
  const made = make();
  cache.set(key, made);
  made.catch(() => cache.delete(key));
  return made;
}
