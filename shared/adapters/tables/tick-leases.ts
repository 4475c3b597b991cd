import type { StorageAccess } from '../storage-access.js';
import type { TickLease, TickLeaseStore, TickRunLock } from '../../services/ports.js';
import { TableStore, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * One row per periodic poll ("tick"): when its next run is scheduled, and its run lock.
 * Guarded by ETag so that however many instances ask for a poll, one chain of scheduled
 * messages runs.
 */
type Row = EntityProps & { scheduledFor?: string; owner?: string; until?: string; rerun?: boolean };

export class TickLeaseRepository implements TickLeaseStore {
  /** Each lease as this instance last read or wrote it. */
  private readonly known = new Map<string, TickLease>();

  constructor(private readonly store: TableStore<Row>) {}

  static connect(storage: StorageAccess | string, tableName: string = TABLES.ticks): TickLeaseRepository {
    return new TickLeaseRepository(TableStore.connect<Row>(storage, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async get(tick: string): Promise<TickLease> {
    const row = await this.store.get('tick', tick);
    const lease = { scheduledFor: row?.value.scheduledFor || undefined, etag: row?.etag };
    this.known.set(tick, lease);
    return lease;
  }

  lastKnown(tick: string): TickLease | undefined {
    return this.known.get(tick);
  }

  async getLock(tick: string): Promise<TickRunLock> {
    const row = await this.store.get('lock', tick);
    return {
      owner: row?.value.owner || undefined,
      until: row?.value.until || undefined,
      rerun: row?.value.rerun === true,
      etag: row?.etag,
    };
  }

  /** Conflict errors when another instance moved first. */
  async setLock(tick: string, lock: Omit<TickRunLock, 'etag'>, etag: string | undefined): Promise<string> {
    const value = { owner: lock.owner ?? '', until: lock.until ?? '', rerun: lock.rerun };
    return etag === undefined ? this.store.insert('lock', tick, value) : this.store.update('lock', tick, value, etag);
  }

  /** Conflict errors (EntityExistsError / ConcurrencyConflictError) when another instance moved first. */
  async set(tick: string, scheduledFor: string, etag: string | undefined): Promise<void> {
    try {
      const written =
        etag === undefined
          ? await this.store.insert('tick', tick, { scheduledFor })
          : await this.store.update('tick', tick, { scheduledFor }, etag);
      this.known.set(tick, { scheduledFor, etag: written });
    } catch (error) {
      this.known.delete(tick);
      throw error;
    }
  }
}
