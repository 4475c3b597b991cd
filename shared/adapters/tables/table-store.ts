import { RestError, type TableClient, type TableEntity, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { StorageAccess } from '../storage-access.js';
import { ConcurrencyConflictError, EntityExistsError, StorageRefusedError } from '../../errors.js';
import { countTableOperation, isPartitionFilter } from './table-metrics.js';

/**
 * The one table repository: typed entities over @azure/data-tables, ETag-guarded writes
 * that surface ConcurrencyConflictError / EntityExistsError, and same-partition transactions.
 */

/** Values Table Storage can hold natively. Objects go through `json` columns. */
export type EntityValue = string | number | boolean | Date | undefined | null;
export type EntityProps = Record<string, EntityValue>;

export interface StoredEntity<T extends EntityProps> {
  readonly partitionKey: string;
  readonly rowKey: string;
  readonly etag: string;
  readonly value: T;
}

/**
 * `merge` changes only the properties given and keeps the others (Table Storage's Merge);
 * otherwise the entity is replaced whole.
 */
export type WriteOp<T extends EntityProps> =
  | { kind: 'insert'; partitionKey: string; rowKey: string; value: T }
  | { kind: 'update'; partitionKey: string; rowKey: string; value: Partial<T>; etag: string; merge?: boolean }
  | { kind: 'upsert'; partitionKey: string; rowKey: string; value: Partial<T>; merge?: boolean }
  | { kind: 'delete'; partitionKey: string; rowKey: string };

/** Table keys may not contain / \ # ? or control characters; serials may. Escape reversibly. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const KEY_UNSAFE = /[%/\\#?\u0000-\u001f\u007f-\u009f]/g;

export function toKey(raw: string): string {
  return raw.replace(KEY_UNSAFE, (ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}

export function fromKey(key: string): string {
  return key.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** OData string literal: single quotes doubled. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function statusOf(error: unknown): number | undefined {
  return error instanceof RestError ? error.statusCode : undefined;
}

/**
 * A write the storage refuses for size, as a typed error; anything else unchanged. A single
 * write names the code (`PropertyValueTooLarge`, `EntityTooLarge`); a transaction's error says
 * it only in words ("The property value exceeds the maximum allowed size (64KB)").
 */
function refusedForSize(error: unknown, table: string): unknown {
  const status = statusOf(error);
  if (status !== 400 && status !== 413) return error;
  const text = `${(error as RestError).code ?? ''} ${error instanceof Error ? error.message : ''}`;
  if (/PropertyValueTooLarge|property value exceeds the maximum allowed size/i.test(text))
    return new StorageRefusedError(table, 'PropertyValueTooLarge');
  if (/EntityTooLarge|RequestBodyTooLarge|entity is larger than|request body is too large/i.test(text))
    return new StorageRefusedError(table, 'EntityTooLarge');
  return error;
}

export class TableStore<T extends EntityProps> {
  private created: Promise<void> | undefined;

  constructor(readonly client: TableClient) {}

  /** A table of the product's storage account; a string is a connection string (local tools and tests). */
  static connect<T extends EntityProps>(storage: StorageAccess | string, tableName: string): TableStore<T> {
    return new TableStore<T>(StorageAccess.of(storage).table(tableName));
  }

  get tableName(): string {
    return this.client.tableName;
  }

  /** Creates the table once per process; safe to call from every handler. */
  ensureTable(): Promise<void> {
    this.created ??= this.client.createTable().catch((error: unknown) => {
      this.created = undefined;
      if (statusOf(error) !== 409) throw error;
    });
    return this.created;
  }

  async get(partitionKey: string, rowKey: string): Promise<StoredEntity<T> | undefined> {
    try {
      const entity = await this.client.getEntity<T>(partitionKey, rowKey);
      countTableOperation(this.tableName, 'get', 1);
      return this.toStored(entity);
    } catch (error) {
      countTableOperation(this.tableName, 'get', 0);
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Inserts; EntityExistsError when the row is already there. Returns the new ETag. */
  async insert(partitionKey: string, rowKey: string, value: T): Promise<string> {
    countTableOperation(this.tableName, 'insert', 1);
    try {
      const response = await this.client.createEntity({ partitionKey, rowKey, ...value });
      return response.etag ?? '';
    } catch (error) {
      if (statusOf(error) === 409) throw new EntityExistsError(this.tableName, partitionKey, rowKey);
      throw refusedForSize(error, this.tableName);
    }
  }

  /** Replaces the entity only if its ETag still matches; ConcurrencyConflictError otherwise. */
  async update(partitionKey: string, rowKey: string, value: T, etag: string): Promise<string> {
    countTableOperation(this.tableName, 'update', 1);
    try {
      const response = await this.client.updateEntity({ partitionKey, rowKey, ...value }, 'Replace', { etag });
      return response.etag ?? '';
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 404) throw new ConcurrencyConflictError(this.tableName, partitionKey, rowKey);
      throw refusedForSize(error, this.tableName);
    }
  }

  async upsert(partitionKey: string, rowKey: string, value: Partial<T>, merge = false): Promise<string> {
    countTableOperation(this.tableName, 'upsert', 1);
    const response = await this.client.upsertEntity({ partitionKey, rowKey, ...value }, merge ? 'Merge' : 'Replace');
    return response.etag ?? '';
  }

  async delete(partitionKey: string, rowKey: string, etag?: string): Promise<void> {
    countTableOperation(this.tableName, 'delete', 1);
    try {
      await this.client.deleteEntity(partitionKey, rowKey, etag ? { etag } : {});
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) return;
      if (status === 412) throw new ConcurrencyConflictError(this.tableName, partitionKey, rowKey);
      throw error;
    }
  }

  /**
   * Atomic writes within one partition (at most 100). A stale ETag or an existing row makes
   * the whole transaction fail with the matching typed error; nothing is written.
   * Returns the new ETag of each written row, by row key.
   */
  async transact(ops: readonly WriteOp<T>[]): Promise<Map<string, string>> {
    const etags = new Map<string, string>();
    if (ops.length === 0) return etags;
    const partitions = new Set(ops.map((op) => op.partitionKey));
    if (partitions.size !== 1) throw new Error('A transaction must stay within one partition');
    if (ops.length > 100) throw new Error('A transaction holds at most 100 operations');
    const actions: TransactionAction[] = ops.map((op) => {
      const entity = { partitionKey: op.partitionKey, rowKey: op.rowKey, ...('value' in op ? op.value : {}) } as TableEntity;
      switch (op.kind) {
        case 'insert':
          return ['create', entity];
        case 'update':
          return ['update', entity, op.merge ? 'Merge' : 'Replace', { etag: op.etag }];
        case 'upsert':
          return ['upsert', entity, op.merge ? 'Merge' : 'Replace'];
        case 'delete':
          // Transactions cannot guard deletes with an ETag; use delete() for a guarded one.
          return ['delete', entity];
      }
    });
    countTableOperation(this.tableName, 'transaction', ops.length);
    try {
      const response = await this.client.submitTransaction(actions);
      // Answers come in the order of the operations; a created row's key, where given, is read off
      // its URL (escaped: `%` comes back as `%25`), so the operation's own key is the one to trust.
      response.subResponses.forEach((sub, index) => {
        const rowKey = ops[index]?.rowKey;
        if (rowKey !== undefined && sub.etag) etags.set(rowKey, sub.etag);
      });
      return etags;
    } catch (error) {
      const status = statusOf(error);
      const failed = failedOperation(error, ops);
      if (status === 412 || (status === 404 && failed?.kind === 'update')) {
        throw new ConcurrencyConflictError(this.tableName, failed?.partitionKey ?? ops[0]!.partitionKey, failed?.rowKey ?? '');
      }
      if (status === 409) throw new EntityExistsError(this.tableName, failed?.partitionKey ?? ops[0]!.partitionKey, failed?.rowKey ?? '');
      throw refusedForSize(error, this.tableName);
    }
  }

  /** Streams every entity matching an OData filter, page by page. */
  async *query(filter?: string, select?: string[]): AsyncGenerator<StoredEntity<T>> {
    const iterator = this.client.listEntities<T>({ queryOptions: { ...(filter ? { filter } : {}), ...(select ? { select } : {}) } });
    const kind = isPartitionFilter(filter) ? 'partition-query' : 'scan';
    for await (const page of iterator.byPage()) {
      countTableOperation(this.tableName, kind, page.length);
      for (const entity of page) yield this.toStored(entity);
    }
  }

  async *partition(partitionKey: string, rowKeyPrefix?: string): AsyncGenerator<StoredEntity<T>> {
    let filter = `PartitionKey eq ${odataString(partitionKey)}`;
    if (rowKeyPrefix) filter += ` and RowKey ge ${odataString(rowKeyPrefix)} and RowKey lt ${odataString(`${rowKeyPrefix}\uffff`)}`;
    yield* this.query(filter);
  }

  /** Every entity whose partition key starts with `prefix`: one range of keys, read in key order; `select` projects. */
  async *partitionsStartingWith(prefix: string, select?: string[]): AsyncGenerator<StoredEntity<T>> {
    yield* this.query(`PartitionKey ge ${odataString(prefix)} and PartitionKey lt ${odataString(`${prefix}\uffff`)}`, select);
  }

  private toStored(entity: TableEntityResult<T>): StoredEntity<T> {
    const { partitionKey, rowKey, etag, timestamp: _timestamp, ...rest } = entity as TableEntityResult<T> & { timestamp?: string };
    const value: Record<string, EntityValue> = {};
    for (const [key, item] of Object.entries(rest)) {
      if (key === 'odata.metadata') continue;
      value[key] = item as EntityValue;
    }
    return { partitionKey: partitionKey ?? '', rowKey: rowKey ?? '', etag, value: value as T };
  }
}

/** Table transactions report the failing operation's index at the start of the error message ("2:..."). */
function failedOperation<T extends EntityProps>(error: unknown, ops: readonly WriteOp<T>[]): WriteOp<T> | undefined {
  const message = error instanceof Error ? error.message : '';
  const match = /^(\d+):/.exec(message);
  if (match?.[1]) return ops[Number(match[1])];
  return ops.length === 1 ? ops[0] : undefined;
}
