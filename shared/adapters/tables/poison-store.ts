import type { StorageAccess } from '../storage-access.js';
import { isQueueName } from '../../messages/index.js';
import type { PoisonRecord, PoisonStore } from '../../services/ports.js';
import { EntityExistsError } from '../../errors.js';
import { fromKey, TableStore, toKey, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * Messages set aside because they could not be read, one row per queue and message id in the
 * `sweeper` table, so a redelivery finds its row instead of adding another.
 */

const PARTITION = 'poison';

type Row = EntityProps & {
  queue: string;
  messageId: string;
  kind?: string;
  correlationId?: string;
  reason: string;
  description: string;
  parkedAt: string;
  body?: string;
};

export class PoisonRepository implements PoisonStore {
  constructor(private readonly store: TableStore<Row>) {}

  static connect(storage: StorageAccess | string, tableName: string = TABLES.sweeper): PoisonRepository {
    return new PoisonRepository(TableStore.connect<Row>(storage, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async park(record: PoisonRecord): Promise<boolean> {
    try {
      await this.store.insert(PARTITION, toKey(`${record.queue}|${record.messageId}`), {
        queue: record.queue,
        messageId: record.messageId,
        kind: record.kind,
        correlationId: record.correlationId,
        reason: record.reason,
        description: record.description,
        parkedAt: record.parkedAt,
        body: record.body,
      });
      return true;
    } catch (error) {
      if (error instanceof EntityExistsError) return false;
      throw error;
    }
  }

  async *list(): AsyncGenerator<PoisonRecord> {
    for await (const { rowKey, value } of this.store.partition(PARTITION)) {
      const queue = value.queue;
      if (!isQueueName(queue)) continue;
      yield {
        queue,
        messageId: value.messageId || fromKey(rowKey).split('|').slice(1).join('|'),
        kind: value.kind || undefined,
        correlationId: value.correlationId || undefined,
        reason: value.reason,
        description: value.description,
        parkedAt: value.parkedAt,
        body: value.body || undefined,
      };
    }
  }
}
