/**
 * Table Storage round trips this process made, by table and kind, and the entities they
 * carried: what the benchmark prints per device and what the scale tests assert. A query is a
 * `partition-query` when its filter pins one partition and a `scan` otherwise — a scan's cost
 * on the service grows with the whole table, whatever the filter returns.
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

/** Whether an OData filter confines a query to one partition (`PartitionKey eq '…'` at its top level). */
export function isPartitionFilter(filter: string | undefined): boolean {
  if (filter === undefined) return false;
  // Only a leading `PartitionKey eq` joined by `and` pins the partition: `… or PartitionKey eq` does not.
  return /^\s*\(?\s*PartitionKey eq '(?:[^']|'')*'\s*\)?\s*(and\b|$)/.test(filter);
}
