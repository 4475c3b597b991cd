import type { StorageAccess } from '../storage-access.js';
import { systemClock, type Clock } from '../../domain/clock.js';
import { serialKey } from '../../domain/device.js';
import type { BatchDeviceEntry, BatchDeviceIndex, BatchTally, RejectedRowEntry } from '../../services/ports.js';
import { CountedEntries, ENTRY_COLUMNS, entryFromRow, entryToRow, isDeviceRow } from './counted-entries.js';
import { odataString, TableStore, toKey, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * The devices of each file (`batchdevices`): partition = batch id, row key = the device's
 * serial key. Entries are gathered with those of the file's other devices moving at the same
 * moment and written, ETag-guarded, in one transaction with the file's counts row
 * (`CountedEntries`): following a device costs a fraction of a round trip, and the file's
 * summary reads its counts and its listed entries, not the file. A write never replaces an
 * entry with a higher `eventCount`.
 *
 * A rejected row that recorded no device under the file (no serial, a serial repeated, a
 * device the row leaves alone, a value the storage refused) is keyed by its line instead:
 * `%ROW` and the line in ten digits. That never collides with a device's key: `toKey` escapes
 * every `%` of a serial, so in a device's key a `%` is always followed by two upper-case hex
 * digits, and `R` is none.
 */

type Row = EntityProps;

const rowKeyOf = (line: number): string => `%ROW${String(line).padStart(10, '0')}`;

type EntryWrite = Omit<BatchDeviceEntry, 'movedTo' | 'accepted'> & { readonly accepted?: boolean };

export class BatchDeviceRepository implements BatchDeviceIndex {
  private readonly writes: CountedEntries;

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

  record(batchId: string, entry: EntryWrite): Promise<void> {
    return this.writes.change(toKey(batchId), toKey(serialKey(entry.serialNumber)), (stored) => {
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

  markMoved(batchId: string, serialNumber: string, movedTo: string): Promise<void> {
    return this.writes.change(toKey(batchId), toKey(serialKey(serialNumber)), (stored) =>
      stored === undefined || stored.movedTo === movedTo ? undefined : { ...stored, movedTo },
    );
  }

  /** Resolves once every entry this repository has written so far is stored (another reader then sees it). */
  written(): Promise<void> {
    return this.writes.idle();
  }

  async tally(batchId: string): Promise<BatchTally> {
    await this.writes.idle();
    return this.writes.counts(toKey(batchId));
  }

  async *listed(batchId: string): AsyncGenerator<BatchDeviceEntry> {
    await this.writes.idle();
    yield* this.writes.listed(toKey(batchId));
    for await (const row of this.store.partition(toKey(batchId), '%ROW')) yield entryFromRow(row.value);
  }

  async *entries(batchId: string): AsyncGenerator<BatchDeviceEntry> {
    // What this process wrote is read back: entries still gathering go out first.
    await this.writes.idle();
    for await (const row of this.store.query(`PartitionKey eq ${odataString(toKey(batchId))}`, [...ENTRY_COLUMNS, 'RowKey'])) {
      if (isDeviceRow(row.rowKey) || row.rowKey.startsWith('%ROW')) yield entryFromRow(row.value);
    }
  }
}
