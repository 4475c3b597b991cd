import type { EntityProps, TableStore, WriteOp } from './table-store.js';

/**
 * Unguarded writes to many rows (index entries), gathered into transactions: writes queued
 * within `lingerMs` of each other for the same partition go out together, up to 100, so an
 * index written beside every device costs a fraction of a round trip per device. A write
 * resolves once it is stored. A transaction refused as a whole (a delete of a row already
 * gone fails every operation with it) is retried one write at a time, so one write never
 * fails another. A transaction that writes a row still being written by one sent before waits
 * for it: two requests in flight may be served in either order, and an entry's upsert landing
 * after its delete would leave behind an entry its device has left.
 */

export type BatchedWrite<T extends EntityProps> = Extract<WriteOp<T>, { kind: 'upsert' | 'delete' }>;

interface Queued<T extends EntityProps> {
  write: BatchedWrite<T>;
  /** Of two writes to one row in the same transaction, the higher order is kept (ties: the later). */
  order: number;
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

const MAX_PER_TRANSACTION = 100;

export class TableBatcher<T extends EntityProps> {
  private readonly queued = new Map<string, Map<string, Queued<T>>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** The transaction in flight for each row (by partition, then row key), for a later write of the row to wait on. */
  private readonly writing = new Map<string, Map<string, Promise<void>>>();

  constructor(
    private readonly store: TableStore<T>,
    private readonly lingerMs = 5,
  ) {}

  write(write: BatchedWrite<T>, order = 0): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const rows = this.queued.get(write.partitionKey) ?? new Map<string, Queued<T>>();
      this.queued.set(write.partitionKey, rows);
      const existing = rows.get(write.rowKey);
      if (existing) {
        if (order >= existing.order) Object.assign(existing, { write, order });
        existing.waiters.push({ resolve, reject });
      } else {
        rows.set(write.rowKey, { write, order, waiters: [{ resolve, reject }] });
      }
      if (rows.size >= MAX_PER_TRANSACTION) this.flushPartition(write.partitionKey);
      else this.timer ??= setTimeout(() => this.flushAll(), this.lingerMs);
    });
  }

  private flushAll(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const partitionKey of [...this.queued.keys()]) this.flushPartition(partitionKey);
  }

  private flushPartition(partitionKey: string): void {
    const rows = this.queued.get(partitionKey);
    if (!rows) return;
    this.queued.delete(partitionKey);
    if (this.queued.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = [...rows.values()];
    const writing = this.writing.get(partitionKey) ?? new Map<string, Promise<void>>();
    this.writing.set(partitionKey, writing);
    const before = new Set(batch.map((item) => writing.get(item.write.rowKey)).filter((p): p is Promise<void> => p !== undefined));
    const stored = (before.size > 0 ? Promise.allSettled([...before]).then(() => this.send(batch)) : this.send(batch)).finally(() => {
      for (const item of batch) if (writing.get(item.write.rowKey) === stored) writing.delete(item.write.rowKey);
      if (writing.size === 0 && this.writing.get(partitionKey) === writing) this.writing.delete(partitionKey);
    });
    for (const item of batch) writing.set(item.write.rowKey, stored);
    const sent = stored.then(
      () => batch.forEach((item) => item.waiters.forEach((waiter) => waiter.resolve())),
      (error: unknown) => batch.forEach((item) => item.waiters.forEach((waiter) => waiter.reject(error))),
    );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  /**
   * Resolves once every write queued so far is stored (or failed): a reader in this process
   * then sees them, whether or not their writers waited. Writes queued after the call are not
   * waited for, so a reader is never held up by writers that keep coming.
   */
  async idle(): Promise<void> {
    if (this.queued.size > 0) this.flushAll();
    await Promise.allSettled([...this.inFlight]);
  }

  private async send(batch: readonly Queued<T>[]): Promise<void> {
    try {
      await this.store.transact(batch.map((item) => item.write));
    } catch {
      // One refused write (a delete of a row already gone, say) refuses the transaction: go one by one.
      if (batch.length === 1) return this.sendOne(batch[0]!.write);
      const failures: unknown[] = [];
      await Promise.all(batch.map((item) => this.sendOne(item.write).catch((failure: unknown) => failures.push(failure))));
      if (failures.length > 0) throw failures[0];
    }
  }

  private async sendOne(write: BatchedWrite<T>): Promise<void> {
    if (write.kind === 'delete') await this.store.delete(write.partitionKey, write.rowKey);
    else await this.store.upsert(write.partitionKey, write.rowKey, write.value, write.merge);
  }
}
