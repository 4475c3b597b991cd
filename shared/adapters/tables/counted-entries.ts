import { countChange, countEntries, isListed, NO_COUNTS, type BatchCounts } from '../../domain/batch-counts.js';
import type { Clock } from '../../domain/clock.js';
import { isDeviceState, type WaitStep } from '../../domain/lifecycle.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import type { BatchDeviceEntry, BatchTally } from '../../services/ports.js';
import type { EntityProps, TableStore, WriteOp } from './table-store.js';

/**
 * The device entries of a partition (a file's range of lines) written together with its counts
 * row, in one transaction, so the counts always equal what the entries say: a file's summary
 * reads a row per range, not the file.
 *
 * Every write is ETag-guarded: an entry is inserted when it is known to be absent and
 * replaced only at the ETag it was read or written at; the counts row likewise. So each change
 * is counted from the entry as stored, never from what a writer believes it was, and two
 * instances writing one file cannot count a device twice: the later transaction fails as a
 * whole, its partition is read again, and it is counted again from what is stored.
 *
 * What is stored is kept in memory per partition, so a process following its own files needs
 * no read before a write: a transaction of up to 100 operations carries the entries of the
 * file's devices moving at the same moment. A row not known is read first: point reads for a
 * few, the partition at once for many.
 *
 * Each entry the summary lists (a row the file rejected, a failed or stalled device) has a copy
 * under `%ATT` and its key, written in the same transaction, so the list is a range query. A copy no longer listed is overwritten with `gone`, never deleted (a
 * delete of a missing row would refuse the whole transaction).
 */

type Row = EntityProps;

/** The file's counts; `%C` never starts a device's key (a `%` there is always followed by two hex digits of an escaped character, at most 9F). */
export const COUNTS_ROW = '%COUNTS';
/** Copies of the listed entries: `%ATT` and the device's key. */
export const LISTED_PREFIX = '%ATT';
/** Rows of another kind sharing the partition (rejected rows without a device: `%ROW`). */
const OTHER_ROWS = '%';
export const ENTRY_COLUMNS = ['serialNumber', 'line', 'state', 'reasons', 'note', 'waitingFor', 'eventCount', 'accepted', 'movedTo'];

/** A change to one entry: from what is stored (undefined: none) to what should be (undefined: leave it). */
export type EntryChange = (stored: BatchDeviceEntry | undefined) => BatchDeviceEntry | undefined;

interface Known {
  readonly etag: string;
  readonly entry: BatchDeviceEntry;
}

interface PartitionState {
  /** Rows as stored. */
  readonly rows: Map<string, Known>;
  /** Rows known to be absent; with `complete`, every row not in `rows` is. */
  readonly absent: Set<string>;
  complete: boolean;
  /** The counts row as stored; null: known to be absent, undefined: to be read. */
  counts: { readonly etag: string; readonly value: BatchCounts } | null | undefined;
}

interface Pending {
  readonly rowKey: string;
  readonly changes: EntryChange[];
  readonly waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

const MAX_OPERATIONS = 100;
const MAX_ATTEMPTS = 8;
/**
 * Rows kept in memory across all partitions; the oldest partitions are forgotten beyond it (and
 * read again if written). Twenty ranges of 1,000 lines: the files moving now, not the fleet.
 */
const MAX_KNOWN_ROWS = 20_000;
/** Unknown rows beyond this many are loaded with the whole partition rather than one by one. */
const POINT_READS_BEFORE_LOAD = 20;

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

export function entryFromRow(row: Row): BatchDeviceEntry {
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

export function entryToRow(entry: BatchDeviceEntry): Row {
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

export const listedRowKey = (rowKey: string): string => `${LISTED_PREFIX}${rowKey}`;

/** A device's entry, as opposed to the counts row, a listed copy or a rejected row's own entry. */
export const isDeviceRow = (rowKey: string): boolean => !rowKey.startsWith(OTHER_ROWS) || /^%[0-9A-F]{2}/.test(rowKey);

function countsFromRow(row: Row | undefined): BatchCounts {
  if (row === undefined || typeof row.counts !== 'string') return NO_COUNTS;
  return JSON.parse(row.counts) as BatchCounts;
}

export class CountedEntries {
  private readonly partitions = new Map<string, PartitionState>();
  private readonly queued = new Map<string, Map<string, Pending>>();
  /** One transaction at a time per partition: a second would only fail on the first's counts. */
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: TableStore<Row>,
    private readonly now: Clock,
    private readonly lingerMs: number,
  ) {}

  /** Queues a change to one entry; resolves once it is stored (or was not needed). */
  change(partitionKey: string, rowKey: string, change: EntryChange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const rows = this.queued.get(partitionKey) ?? new Map<string, Pending>();
      this.queued.set(partitionKey, rows);
      const pending = rows.get(rowKey) ?? { rowKey, changes: [], waiters: [] };
      rows.set(rowKey, pending);
      pending.changes.push(change);
      pending.waiters.push({ resolve, reject });
      this.timer ??= setTimeout(() => this.flushAll(), this.lingerMs);
    });
  }

  /** Resolves once every change queued so far is stored or failed. */
  async idle(): Promise<void> {
    this.flushAll();
    await Promise.allSettled([...this.running.values()]);
  }

  /** The file's counts as stored (one point read). */
  async counts(partitionKey: string): Promise<BatchTally> {
    const stored = await this.store.get(partitionKey, COUNTS_ROW);
    return { counts: countsFromRow(stored?.value), changedAt: str(stored?.value.changedAt) };
  }

  /** The entries the summary lists (in key order; the summary puts them in file order). */
  async *listed(partitionKey: string): AsyncGenerator<BatchDeviceEntry> {
    for await (const row of this.store.partition(partitionKey, LISTED_PREFIX)) {
      if (row.value.gone !== true) yield entryFromRow(row.value);
    }
  }

  private flushAll(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const partitionKey of [...this.queued.keys()]) this.schedule(partitionKey);
  }

  private schedule(partitionKey: string): void {
    const previous = this.running.get(partitionKey) ?? Promise.resolve();
    const run = previous.then(() => this.drain(partitionKey));
    this.running.set(partitionKey, run);
    void run.finally(() => {
      if (this.running.get(partitionKey) === run) this.running.delete(partitionKey);
    });
  }

  /** Sends what is queued for the partition now. */
  private async drain(partitionKey: string): Promise<void> {
    const rows = this.queued.get(partitionKey);
    if (!rows) return;
    this.queued.delete(partitionKey);
    await this.settle(partitionKey, [...rows.values()]);
  }

  private async settle(partitionKey: string, batch: readonly Pending[]): Promise<void> {
    try {
      await this.send(partitionKey, batch);
      batch.forEach((pending) => pending.waiters.forEach((waiter) => waiter.resolve()));
    } catch (error) {
      // One entry the storage refuses (a value too large, say) must not fail the others: one by one.
      if (batch.length > 1 && !(error instanceof ConcurrencyConflictError || error instanceof EntityExistsError)) {
        for (const pending of batch) await this.settle(partitionKey, [pending]);
        return;
      }
      batch.forEach((pending) => pending.waiters.forEach((waiter) => waiter.reject(error)));
    }
  }

  /** Transaction after transaction, each as many entries (and their listed copies) as fit beside the counts row. */
  private async send(partitionKey: string, batch: readonly Pending[]): Promise<void> {
    let rest = batch;
    for (let attempt = 1; rest.length > 0;) {
      const piece = rest.slice(0, MAX_OPERATIONS - 1);
      const state = await this.known(
        partitionKey,
        piece.map((pending) => pending.rowKey),
      );
      const ops: WriteOp<Row>[] = [];
      const written: { rowKey: string; entry: BatchDeviceEntry }[] = [];
      let counts = state.counts?.value ?? countEntries([...state.rows.values()].map((known) => known.entry));
      let taken = 0;
      for (const pending of piece) {
        const stored = state.rows.get(pending.rowKey);
        const after = pending.changes.reduce<BatchDeviceEntry | undefined>((entry, change) => change(entry) ?? entry, stored?.entry);
        // A change that leaves the entry as stored (a redelivery, a repair of an entry already right) writes nothing.
        const changed = after !== undefined && (stored === undefined || !sameEntry(after, stored.entry));
        const rowOps: WriteOp<Row>[] = !changed
          ? []
          : [
              stored === undefined
                ? { kind: 'insert', partitionKey, rowKey: pending.rowKey, value: entryToRow(after) }
                : { kind: 'update', partitionKey, rowKey: pending.rowKey, value: entryToRow(after), etag: stored.etag },
              ...listedCopies(partitionKey, pending.rowKey, stored?.entry, after),
            ];
        if (ops.length + rowOps.length > MAX_OPERATIONS - 1) break;
        taken += 1;
        if (!changed) continue;
        ops.push(...rowOps);
        counts = countChange(counts, stored?.entry, after);
        written.push({ rowKey: pending.rowKey, entry: after });
      }
      if (written.length > 0) {
        const countsValue: Row = { counts: JSON.stringify(counts), changedAt: this.now().toISOString() };
        ops.push(
          state.counts
            ? { kind: 'update', partitionKey, rowKey: COUNTS_ROW, value: countsValue, etag: state.counts.etag }
            : { kind: 'insert', partitionKey, rowKey: COUNTS_ROW, value: countsValue },
        );
        try {
          this.remember(partitionKey, state, written, counts, await this.store.transact(ops));
        } catch (error) {
          if (!(error instanceof ConcurrencyConflictError || error instanceof EntityExistsError)) {
            this.partitions.delete(partitionKey);
            throw error;
          }
          // Someone else wrote the file meanwhile: what they wrote is read again and counted from.
          this.forget(
            partitionKey,
            state,
            error.rowKey,
            piece.map((pending) => pending.rowKey),
          );
          if (++attempt > MAX_ATTEMPTS) throw error;
          continue;
        }
      }
      rest = rest.slice(taken);
      attempt = 1;
    }
  }

  /**
   * Drops what a failed transaction shows to be stale: the counts row alone when it failed
   * there; the batch's rows and the counts when an entry failed; the partition when the
   * failing operation is not named.
   */
  private forget(partitionKey: string, state: PartitionState, failedRowKey: string, rowKeys: readonly string[]): void {
    state.counts = undefined;
    if (failedRowKey === COUNTS_ROW) return;
    if (failedRowKey === '') {
      this.partitions.delete(partitionKey);
      return;
    }
    state.complete = false;
    for (const rowKey of rowKeys) {
      state.rows.delete(rowKey);
      state.absent.delete(rowKey);
    }
  }

  private remember(
    partitionKey: string,
    state: PartitionState,
    written: readonly { rowKey: string; entry: BatchDeviceEntry }[],
    counts: BatchCounts,
    etags: ReadonlyMap<string, string>,
  ): void {
    const countsEtag = etags.get(COUNTS_ROW);
    if (countsEtag === undefined || written.some(({ rowKey }) => !etags.has(rowKey))) {
      // Not told the new ETags: read again before the next write.
      this.partitions.delete(partitionKey);
      return;
    }
    for (const { rowKey, entry } of written) {
      state.rows.set(rowKey, { etag: etags.get(rowKey)!, entry });
      state.absent.delete(rowKey);
    }
    state.counts = { etag: countsEtag, value: counts };
  }

  /** What is stored of these rows and of the counts row, read when not known. */
  private async known(partitionKey: string, rowKeys: readonly string[]): Promise<PartitionState> {
    const cached = this.partitions.get(partitionKey);
    if (cached === undefined) return this.load(partitionKey);
    // Most recently used last: the oldest are forgotten first.
    this.partitions.delete(partitionKey);
    this.partitions.set(partitionKey, cached);
    const unknown = cached.complete ? [] : rowKeys.filter((rowKey) => !cached.rows.has(rowKey) && !cached.absent.has(rowKey));
    if (unknown.length > POINT_READS_BEFORE_LOAD) return this.load(partitionKey);
    const [counts, ...found] = await Promise.all([
      cached.counts === undefined ? this.store.get(partitionKey, COUNTS_ROW) : undefined,
      ...unknown.map((rowKey) => this.store.get(partitionKey, rowKey)),
    ]);
    if (cached.counts === undefined) cached.counts = counts ? { etag: counts.etag, value: countsFromRow(counts.value) } : null;
    unknown.forEach((rowKey, index) => {
      const row = found[index];
      if (row === undefined) cached.absent.add(rowKey);
      else cached.rows.set(rowKey, { etag: row.etag, entry: entryFromRow(row.value) });
    });
    return cached;
  }

  /**
   * The whole partition: its device entries and its counts row. A file written before counts
   * were kept has no counts row: its counts are taken from its entries, and its listed entries
   * are copied, before the first transaction inserts the counts row.
   */
  private async load(partitionKey: string): Promise<PartitionState> {
    const state: PartitionState = { rows: new Map(), absent: new Set(), complete: true, counts: null };
    for await (const row of this.store.partition(partitionKey)) {
      if (row.rowKey === COUNTS_ROW) state.counts = { etag: row.etag, value: countsFromRow(row.value) };
      else if (isDeviceRow(row.rowKey)) state.rows.set(row.rowKey, { etag: row.etag, entry: entryFromRow(row.value) });
    }
    if (state.counts === null && state.rows.size > 0) {
      const copies = [...state.rows].flatMap(([rowKey, known]) => listedCopies(partitionKey, rowKey, undefined, known.entry));
      for (let start = 0; start < copies.length; start += MAX_OPERATIONS)
        await this.store.transact(copies.slice(start, start + MAX_OPERATIONS));
    }
    this.partitions.delete(partitionKey);
    this.partitions.set(partitionKey, state);
    this.forgetOldest();
    return state;
  }

  private forgetOldest(): void {
    let total = [...this.partitions.values()].reduce((sum, state) => sum + state.rows.size + state.absent.size, 0);
    for (const [partitionKey, state] of this.partitions) {
      if (total <= MAX_KNOWN_ROWS || this.partitions.size === 1) return;
      this.partitions.delete(partitionKey);
      total -= state.rows.size + state.absent.size;
    }
  }
}

function sameEntry(a: BatchDeviceEntry, b: BatchDeviceEntry): boolean {
  return JSON.stringify(entryToRow(a)) === JSON.stringify(entryToRow(b));
}

/** The listed copy an entry's change writes: the entry's copy while it is listed, `gone` once it no longer is. */
function listedCopies(partitionKey: string, rowKey: string, before: BatchDeviceEntry | undefined, after: BatchDeviceEntry): WriteOp<Row>[] {
  const key = listedRowKey(rowKey);
  if (isListed(after)) return [{ kind: 'upsert', partitionKey, rowKey: key, value: entryToRow(after) }];
  if (before !== undefined && isListed(before)) return [{ kind: 'upsert', partitionKey, rowKey: key, value: { gone: true } }];
  return [];
}
