import { TableStore, type EntityProps } from './table-store.js';

/**
 * One row per periodic poll ("tick"): when its next run is scheduled. Guarded by ETag so
 * that however many instances ask for a poll, one chain of scheduled messages runs.
 */
export interface TickLease {
  readonly scheduledFor: string | undefined;
  readonly etag: string | undefined;
}

type Row = EntityProps & { scheduledFor?: string };

export class TickLeaseRepository {
  constructor(private readonly store: TableStore<Row>) {}

  static fromConnectionString(connectionString: string, tableName = 'ticks'): TickLeaseRepository {
    return new TickLeaseRepository(TableStore.fromConnectionString<Row>(connectionString, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async get(tick: string): Promise<TickLease> {
    const row = await this.store.get('tick', tick);
    return { scheduledFor: row?.value.scheduledFor || undefined, etag: row?.etag };
  }

  /** Conflict errors (EntityExistsError / ConcurrencyConflictError) when another instance moved first. */
  async set(tick: string, scheduledFor: string, etag: string | undefined): Promise<void> {
    if (etag === undefined) await this.store.insert('tick', tick, { scheduledFor });
    else await this.store.update('tick', tick, { scheduledFor }, etag);
  }
}
