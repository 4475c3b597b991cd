import type { StorageAccess } from '../storage-access.js';
import { odataString, TableStore, type EntityProps } from './table-store.js';
import type { BatchRecord } from '../../domain/batch.js';
import type { BatchStore, Versioned } from '../../services/ports.js';
import { TABLES } from './table-names.js';

type Row = EntityProps;
const BATCH_ROW = 'batch';

function toRow(batch: BatchRecord): Row {
  return {
    supplierId: batch.supplierId,
    fileName: batch.fileName,
    blobName: batch.blobName,
    contentSha256: batch.contentSha256,
    sizeBytes: batch.sizeBytes,
    status: batch.status,
    receivedAt: batch.receivedAt,
    completedAt: batch.completedAt,
    settledAt: batch.settledAt,
    intakeRedrives: batch.intakeRedrives,
    redrivenAt: batch.redrivenAt,
    format: batch.format,
    encoding: batch.encoding,
    fileRejection: batch.fileRejection ? JSON.stringify(batch.fileRejection) : undefined,
    counts: JSON.stringify(batch.counts),
    reportBlob: batch.reportBlob,
    correlationId: batch.correlationId,
  };
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function fromRow(batchId: string, row: Row): BatchRecord {
  return {
    batchId,
    supplierId: String(row.supplierId),
    fileName: String(row.fileName),
    blobName: String(row.blobName),
    contentSha256: String(row.contentSha256),
    sizeBytes: Number(row.sizeBytes ?? 0),
    status: String(row.status) as BatchRecord['status'],
    receivedAt: String(row.receivedAt),
    completedAt: str(row.completedAt),
    ...(str(row.settledAt) ? { settledAt: str(row.settledAt) } : {}),
    ...(typeof row.intakeRedrives === 'number' ? { intakeRedrives: row.intakeRedrives } : {}),
    ...(str(row.redrivenAt) ? { redrivenAt: str(row.redrivenAt) } : {}),
    format: str(row.format),
    encoding: str(row.encoding),
    fileRejection: str(row.fileRejection) ? (JSON.parse(String(row.fileRejection)) as BatchRecord['fileRejection']) : undefined,
    counts: JSON.parse(String(row.counts ?? '{}')) as Record<string, number>,
    reportBlob: str(row.reportBlob),
    correlationId: String(row.correlationId ?? ''),
  };
}

export class BatchRepository implements BatchStore {
  constructor(private readonly store: TableStore<Row>) {}

  static connect(storage: StorageAccess | string, tableName: string = TABLES.batches): BatchRepository {
    return new BatchRepository(TableStore.connect<Row>(storage, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async get(batchId: string): Promise<Versioned<BatchRecord> | undefined> {
    const row = await this.store.get(batchId, BATCH_ROW);
    return row ? { value: fromRow(batchId, row.value), etag: row.etag } : undefined;
  }

  /** EntityExistsError when another upload of the same content got there first. */
  async create(batch: BatchRecord): Promise<Versioned<BatchRecord>> {
    const etag = await this.store.insert(batch.batchId, BATCH_ROW, toRow(batch));
    return { value: batch, etag };
  }

  /** ConcurrencyConflictError when the batch changed since it was read. */
  async save(batch: BatchRecord, etag: string): Promise<Versioned<BatchRecord>> {
    const newEtag = await this.store.update(batch.batchId, BATCH_ROW, toRow(batch), etag);
    return { value: batch, etag: newEtag };
  }

  async *withStatus(status: BatchRecord['status']): AsyncGenerator<Versioned<BatchRecord>> {
    for await (const row of this.store.query(`RowKey eq '${BATCH_ROW}' and status eq ${odataString(status)}`)) {
      yield { value: fromRow(row.partitionKey, row.value), etag: row.etag };
    }
  }
}
