/**
 * Table Storage round trips this process made, by table and kind, and the entities they
 * carried: what the benchmark prints per device and what the scale tests assert. A query is a
 * `partition-query` when its filter pins one partition or a range of partition keys (served from
 * the table's key index: its cost grows with what it returns) and a `scan` otherwise — a scan's
 * cost on the service grows with the whole table, whatever the filter returns.
 */

export type TableOperationKind = 'get' | 'insert' | 'update' | 'upsert' | 'delete' | 'transaction' | 'partition-query' | 'scan';

export interface TableOperationCount {
  /** Round trips: one per point operation, transaction or query page. */
  requests: number;
  /** Entities read (point reads, query results) or written (each operation of a transaction). */
  entities: number;
}

export type TableOperationCounts = Record<string, Partial<Record<TableOperationKind, TableOperationCount>>>;

let counts: TableOperationCounts = {};

export function countTableOperation(table: string, kind: TableOperationKind, entities: number, requests = 1): void {
  const byKind = (counts[table] ??= {});
  const count = (byKind[kind] ??= { requests: 0, entities: 0 });
  count.requests += requests;
  count.entities += entities;
}

/** A copy of the counts since start or the last reset. */
export function tableOperationCounts(): TableOperationCounts {
  return structuredClone(counts);
}

export function resetTableOperationCounts(): void {
  counts = {};
}

const LITERAL = "'(?:[^']|'')*'";
const PINNED_KEYS = new RegExp(
  `^\\s*\\(?\\s*(?:PartitionKey eq ${LITERAL}|PartitionKey ge ${LITERAL}\\s+and\\s+PartitionKey lt ${LITERAL})\\s*\\)?\\s*(and\\b|$)`,
);

/**
 * Whether an OData filter confines a query to one partition or one range of partition keys
 * (`PartitionKey eq '…'`, or `PartitionKey ge '…' and PartitionKey lt '…'`, at its top level).
 * Only a leading one joined by `and` pins the keys: `… or PartitionKey eq` does not.
 */
export function isPartitionFilter(filter: string | undefined): boolean {
  return filter !== undefined && PINNED_KEYS.test(filter);
}
