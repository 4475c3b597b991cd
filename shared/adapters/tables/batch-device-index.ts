import type { StorageAccess } from '../storage-access.js';
import { serialKey } from '../../domain/device.js';
import { isDeviceState, type WaitStep } from '../../domain/lifecycle.js';
import { ConcurrencyConflictError } from '../../errors.js';
import type { BatchDeviceEntry, BatchDeviceIndex, RejectedRowEntry } from '../../services/ports.js';
import { TableBatcher } from './table-batcher.js';
import { odataString, TableStore, toKey, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * The devices of each file (`batchdevices`): partition = batch id, row key = the device's
 * serial key. Entries are written as Merges, no read first, gathered with those of other
 * devices of the file into one transaction (`TableBatcher`): following a device costs a
 * fraction of a round trip. Of two writes of one entry in a transaction, the higher
 * `eventCount` is kept. Across transactions the later write wins: a device's transitions are
 * ETag-ordered, so its entries arrive in order unless two instances write one device at the
 * same moment, and then the entry is right again at the device's next step (the settle step
 * checks every entry still waiting against its record before it reports).
 *
 * A rejected row that recorded no device under the file (no serial, a serial repeated, a
 * device the row leaves alone, a value the storage refused) is keyed by its line instead:
 * `%ROW` and the line in ten digits. That never collides with a device's key: `toKey` escapes
 * every `%` of a serial, so in a device's key a `%` is always followed by two upper-case hex
 * digits, and `R` is none.
 */

type Row = EntityProps;

/** The columns a summary or a report needs; a partition query reads only these. */
const COLUMNS = ['serialNumber', 'line', 'state', 'reasons', 'note', 'waitingFor', 'eventCount', 'accepted', 'movedTo'];

const rowKeyOf = (line: number): string => `%ROW${String(line).padStart(10, '0')}`;

/** Conflicting writers tolerated on one entry before giving up (the caller logs it). */
const MAX_ATTEMPTS = 5;

type EntryWrite = Omit<BatchDeviceEntry, 'movedTo' | 'accepted'> & { readonly accepted?: boolean };

function toRow(entry: BatchDeviceEntry): Row {
  return {
    serialNumber: entry.serialNumber,
    line: entry.line,
    state: entry.state,
    reasons: JSON.stringify(entry.reasons),
    note: entry.note,
    waitingFor: entry.waitingFor,
    eventCount: entry.eventCount,
    accepted: entry.accepted,
    movedTo: entry.movedTo,
  };
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function fromRow(row: Row): BatchDeviceEntry {
  const state = String(row.state);
  if (!isDeviceState(state)) throw new Error(`Stored batch entry has an unknown state "${state}"`);
  return {
    serialNumber: String(row.serialNumber),
    line: typeof row.line === 'number' ? row.line : 0,
    state,
    reasons: JSON.parse(String(row.reasons ?? '[]')) as string[],
    note: str(row.note),
    waitingFor: str(row.waitingFor) as WaitStep | undefined,
    eventCount: typeof row.eventCount === 'number' ? row.eventCount : 0,
    accepted: row.accepted !== false,
    movedTo: str(row.movedTo),
  };
}

export class BatchDeviceRepository implements BatchDeviceIndex {
  private readonly writes: TableBatcher<Row>;

  constructor(private readonly store: TableStore<Row>) {
    // Nobody waits on an entry for long: gather those of a file's devices moving together.
    this.writes = new TableBatcher(store, 500);
  }

  static connect(storage: StorageAccess | string, tableName: string = TABLES.batchDevices): BatchDeviceRepository {
    return new BatchDeviceRepository(TableStore.connect<Row>(storage, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  record(batchId: string, entry: EntryWrite): Promise<void> {
    const value: Row = {
      serialNumber: entry.serialNumber,
      line: entry.line,
      state: entry.state,
      reasons: JSON.stringify(entry.reasons),
      // A Merge keeps what it is not given: '' clears (and reads back as undefined).
      note: entry.note ?? '',
      waitingFor: entry.waitingFor ?? '',
      eventCount: entry.eventCount,
      ...(entry.accepted === undefined ? {} : { accepted: entry.accepted }),
    };
    return this.writes.write(
      { kind: 'upsert', partitionKey: toKey(batchId), rowKey: toKey(serialKey(entry.serialNumber)), value, merge: true },
      entry.eventCount,
    );
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
    await this.store.upsert(toKey(batchId), rowKeyOf(row.line), toRow(entry));
  }

  async markMoved(batchId: string, serialNumber: string, movedTo: string): Promise<void> {
    const pk = toKey(batchId);
    const rk = toKey(serialKey(serialNumber));
    for (let attempt = 1; ; attempt++) {
      const stored = await this.store.get(pk, rk);
      if (!stored || fromRow(stored.value).movedTo === movedTo) return;
      try {
        await this.store.update(pk, rk, { ...stored.value, movedTo }, stored.etag);
        return;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  /** Resolves once every entry this repository has written so far is stored (another reader then sees it). */
  written(): Promise<void> {
    return this.writes.idle();
  }

  async *entries(batchId: string): AsyncGenerator<BatchDeviceEntry> {
    // What this process wrote is read back: entries still gathering go out first.
    await this.writes.idle();
    for await (const row of this.store.query(`PartitionKey eq ${odataString(toKey(batchId))}`, COLUMNS)) yield fromRow(row.value);
  }
}
