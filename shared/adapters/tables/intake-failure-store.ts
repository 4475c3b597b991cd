import type { StorageAccess } from '../storage-access.js';
import { createHash } from 'node:crypto';
import { EntityExistsError } from '../../errors.js';
import type { IntakeFailure, IntakeFailureStore } from '../../services/ports.js';
import { odataString, TableStore, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * Supplier files their trigger gave up on, kept for operators in the `sweeper` table (partition
 * `intake-failure`) once the sweeper has taken them from the poison queue or the dead-letter
 * container. One row per source, blob and version: the row key is a digest, since a blob name
 * may be longer than a row key may be.
 */

const PARTITION = 'intake-failure';

type Row = EntityProps & {
  source: string;
  blobName: string;
  etag?: string;
  reason: string;
  attempts?: number;
  failedAt?: string;
  recordedAt: string;
};

const rowKey = (failure: Pick<IntakeFailure, 'source' | 'blobName' | 'etag'>): string =>
  createHash('sha256')
    .update(`${failure.source}\n${failure.blobName}\n${failure.etag ?? ''}`)
    .digest('hex');

export class IntakeFailureRepository implements IntakeFailureStore {
  constructor(private readonly store: TableStore<Row>) {}

  static connect(storage: StorageAccess | string, tableName: string = TABLES.sweeper): IntakeFailureRepository {
    return new IntakeFailureRepository(TableStore.connect<Row>(storage, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async record(failure: Omit<IntakeFailure, 'receipt'>, recordedAt: Date): Promise<boolean> {
    try {
      await this.store.insert(PARTITION, rowKey(failure), {
        source: failure.source,
        blobName: failure.blobName,
        etag: failure.etag,
        reason: failure.reason,
        attempts: failure.attempts,
        failedAt: failure.failedAt,
        recordedAt: recordedAt.toISOString(),
      });
      return true;
    } catch (error) {
      if (error instanceof EntityExistsError) return false;
      throw error;
    }
  }

  async count(): Promise<number> {
    let count = 0;
    for await (const _row of this.store.query(`PartitionKey eq ${odataString(PARTITION)}`, ['RowKey'])) count++;
    return count;
  }
}
