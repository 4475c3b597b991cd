import type { StorageAccess } from '../storage-access.js';
import { createHash } from 'node:crypto';
import type { IdempotencyRecord } from '../../domain/idempotency.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import type { IdempotencyStore, SignatureLedger, Versioned } from '../../services/ports.js';
import { odataString, TableStore, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * The webhook's idempotency records in table `idempotency`: one partition per key, keyed by
 * the key's SHA-256 (a key is whatever the sender chose; its hash is always a valid table key
 * and says nothing of it). The first answer is kept as JSON.
 */

type Row = EntityProps & {
  fingerprint: string;
  status: string;
  requestId: string;
  answer?: string;
  createdAt: string;
  expiresAt: string;
  lockedUntil: string;
};

const ROW = 'request';
const partitionOf = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

function toRow(record: IdempotencyRecord): Row {
  return {
    fingerprint: record.fingerprint,
    status: record.status,
    requestId: record.requestId,
    answer: record.answer ? JSON.stringify(record.answer) : undefined,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    lockedUntil: record.lockedUntil,
  };
}

function fromRow(key: string, row: Row): IdempotencyRecord {
  return {
    key,
    fingerprint: row.fingerprint,
    status: row.status === 'completed' ? 'completed' : 'in-progress',
    requestId: row.requestId,
    answer: typeof row.answer === 'string' && row.answer !== '' ? (JSON.parse(row.answer) as IdempotencyRecord['answer']) : undefined,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    lockedUntil: row.lockedUntil,
  };
}

const SIGNATURE_ROW = 'signature';

export class IdempotencyRepository implements IdempotencyStore, SignatureLedger {
  constructor(private readonly store: TableStore<Row>) {}

  static connect(storage: StorageAccess | string, tableName: string = TABLES.idempotency): IdempotencyRepository {
    return new IdempotencyRepository(TableStore.connect<Row>(storage, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async get(key: string): Promise<Versioned<IdempotencyRecord> | undefined> {
    const row = await this.store.get(partitionOf(key), ROW);
    return row ? { value: fromRow(key, row.value), etag: row.etag } : undefined;
  }

  async create(record: IdempotencyRecord): Promise<Versioned<IdempotencyRecord>> {
    const etag = await this.store.insert(partitionOf(record.key), ROW, toRow(record));
    return { value: record, etag };
  }

  async save(record: IdempotencyRecord, etag: string): Promise<Versioned<IdempotencyRecord>> {
    const next = await this.store.update(partitionOf(record.key), ROW, toRow(record), etag);
    return { value: record, etag: next };
  }

  /** A row per signature digest in the same table (its own partition); expired rows are taken over and purged like keys. */
  async claimSignature(signature: string, fingerprint: string, now: Date, expiresAt: Date): Promise<boolean> {
    const partition = `sig-${partitionOf(signature)}`;
    const row: Row = {
      fingerprint,
      status: 'completed',
      requestId: '',
      createdAt: now.toISOString(),
      expiresAt: expiresAt.toISOString(),
      lockedUntil: now.toISOString(),
    };
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        await this.store.insert(partition, SIGNATURE_ROW, row);
        return true;
      } catch (error) {
        if (!(error instanceof EntityExistsError)) throw error;
      }
      const used = await this.store.get(partition, SIGNATURE_ROW);
      if (!used) continue;
      if (Date.parse(used.value.expiresAt) > now.getTime()) return used.value.fingerprint === fingerprint;
      try {
        await this.store.update(partition, SIGNATURE_ROW, row, used.etag);
        return true;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError)) throw error;
      }
    }
    return false;
  }

  /**
   * A filtered scan: the table holds one day of webhook requests, a few hundred or thousand
   * rows, so the sweeper's pass over it stays small whatever the fleet's size.
   */
  async purgeExpired(now: Date): Promise<number> {
    let purged = 0;
    for await (const row of this.store.query(`expiresAt lt ${odataString(now.toISOString())}`, ['PartitionKey', 'RowKey', 'expiresAt'])) {
      try {
        await this.store.delete(row.partitionKey, row.rowKey, row.etag);
        purged++;
      } catch (error) {
        // Taken over by a new request with the same key meanwhile: it keeps its record.
        if (!(error instanceof ConcurrencyConflictError) && !(error instanceof EntityExistsError)) throw error;
      }
    }
    return purged;
  }
}
