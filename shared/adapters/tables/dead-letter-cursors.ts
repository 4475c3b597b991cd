import type { StorageAccess } from '../storage-access.js';
import type { Clock } from '../../domain/clock.js';
import type { DeadLetterCursor, DeadLetterCursorStore } from '../../services/ports.js';
import { TableStore, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/** How far the sweeper has reported each queue's dead letters: one small row per queue. */

const PARTITION = 'deadletter-cursor';

type Row = EntityProps & { lastSequenceNumber?: string; updatedAt?: string };

export class DeadLetterCursorRepository implements DeadLetterCursorStore {
  constructor(
    private readonly store: TableStore<Row>,
    private readonly now: Clock,
  ) {}

  static connect(storage: StorageAccess | string, now: Clock, tableName: string = TABLES.sweeper): DeadLetterCursorRepository {
    return new DeadLetterCursorRepository(TableStore.connect<Row>(storage, tableName), now);
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async get(queue: string): Promise<DeadLetterCursor> {
    const row = await this.store.get(PARTITION, queue);
    return { lastSequenceNumber: row?.value.lastSequenceNumber || undefined, etag: row?.etag };
  }

  async advance(queue: string, lastSequenceNumber: string, etag: string | undefined): Promise<void> {
    const value: Row = { lastSequenceNumber, updatedAt: this.now().toISOString() };
    if (etag === undefined) await this.store.insert(PARTITION, queue, value);
    else await this.store.update(PARTITION, queue, value, etag);
  }
}
