import type { StorageAccess } from '../storage-access.js';
import { TableStore, type EntityProps } from './table-store.js';
import type { BatchRecord } from '../../domain/batch.js';
import type { BatchStore, Versioned } from '../../services/ports.js';
import { TABLES } from './table-names.js';

type Row = EntityProps;
const BATCH_ROW = 'batch';

/**
 * The files still open (`processing` or `complete`), one row each in a partition of their own
 * (no batch id starts with `_`): the sweeper and the settle step read those, never every file
 * ever received. Written before a save that opens a file and deleted after the one that closes
 * it (settled, rejected), so an open file is never missing; a reader checks each against its
 * record and drops the rows of files closed since.
 */
const OPEN_PARTITION = '_open';
const BUILT_ROW = '_built';
const isOpen = (status: BatchRecord['status']): boolean => status === 'processing' || status === 'complete';

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

  /** Creates the table; the first time, lists the open files recorded before they were kept apart (once). */
  async ensure(): Promise<void> {
    await this.store.ensureTable();
    if (await this.store.get(OPEN_PARTITION, BUILT_ROW)) return;
    for await (const row of this.store.query(`RowKey eq '${BATCH_ROW}'`, ['PartitionKey', 'status'])) {
      if (isOpen(String(row.value.status) as BatchRecord['status'])) await this.store.upsert(OPEN_PARTITION, row.partitionKey, {});
    }
    await this.store.upsert(OPEN_PARTITION, BUILT_ROW, {});
  }

  async get(batchId: string): Promise<Versioned<BatchRecord> | undefined> {
    const row = await this.store.get(batchId, BATCH_ROW);
    return row ? { value: fromRow(batchId, row.value), etag: row.etag } : undefined;
  }

  /** EntityExistsError when another upload of the same content got there first. */
  async create(batch: BatchRecord): Promise<Versioned<BatchRecord>> {
    if (isOpen(batch.status)) await this.store.upsert(OPEN_PARTITION, batch.batchId, {});
    const etag = await this.store.insert(batch.batchId, BATCH_ROW, toRow(batch));
    if (!isOpen(batch.status)) await this.store.delete(OPEN_PARTITION, batch.batchId);
    return { value: batch, etag };
  }

  /** ConcurrencyConflictError when the batch changed since it was read. */
  async save(batch: BatchRecord, etag: string): Promise<Versioned<BatchRecord>> {
    if (isOpen(batch.status)) await this.store.upsert(OPEN_PARTITION, batch.batchId, {});
    const newEtag = await this.store.update(batch.batchId, BATCH_ROW, toRow(batch), etag);
    if (!isOpen(batch.status)) await this.store.delete(OPEN_PARTITION, batch.batchId);
    return { value: batch, etag: newEtag };
  }

  /** Open files with this status, from the list of open files: what is read grows with the files still open. */
  async *withStatus(status: 'processing' | 'complete'): AsyncGenerator<Versioned<BatchRecord>> {
    const open: string[] = [];
    for await (const row of this.store.partition(OPEN_PARTITION)) if (row.rowKey !== BUILT_ROW) open.push(row.rowKey);
    for (const batchId of open) {
      const found = await this.get(batchId);
      if (found && isOpen(found.value.status)) {
        if (found.value.status === status) yield found;
      } else if (found) {
        // Closed since (or by a save that stopped before deleting this row).
        await this.store.delete(OPEN_PARTITION, batchId);
      }
    }
  }
}
