import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { TableStore, fromKey, toKey } from '../../../../shared/adapters/tables/table-store.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../../../shared/errors.js';
import { resetTableOperationCounts, tableOperationCounts } from '../../../../shared/adapters/tables/table-metrics.js';

type Row = { state: string; count: number; note?: string };

describe('TableStore against Azurite', () => {
  let store: TableStore<Row>;

  beforeAll(async () => {
    store = TableStore.connect<Row>(inject('storageConnectionString'), `t${randomUUID().replace(/-/g, '')}`);
    await store.ensureTable();
    await store.ensureTable();
  });

  it('round-trips an entity and returns undefined for a missing one', async () => {
    await store.insert('p1', 'r1', { state: 'received', count: 1 });
    const got = await store.get('p1', 'r1');
    expect(got?.value).toEqual({ state: 'received', count: 1 });
    expect(got?.etag).toMatch(/^W\//);
    expect(await store.get('p1', 'missing')).toBeUndefined();
  });

  it('refuses a duplicate insert with EntityExistsError', async () => {
    await store.insert('p2', 'r1', { state: 'received', count: 1 });
    await expect(store.insert('p2', 'r1', { state: 'received', count: 2 })).rejects.toBeInstanceOf(EntityExistsError);
    expect((await store.get('p2', 'r1'))?.value.count).toBe(1);
  });

  it('accepts an update with the current ETag and refuses a stale one', async () => {
    await store.insert('p3', 'r1', { state: 'received', count: 1 });
    const first = await store.get('p3', 'r1');
    const newEtag = await store.update('p3', 'r1', { state: 'importing', count: 2 }, first!.etag);
    expect(newEtag).not.toBe(first!.etag);
    // A second writer still holding the first ETag must lose.
    await expect(store.update('p3', 'r1', { state: 'registered', count: 3 }, first!.etag)).rejects.toBeInstanceOf(ConcurrencyConflictError);
    expect((await store.get('p3', 'r1'))?.value).toEqual({ state: 'importing', count: 2 });
  });

  it('applies a same-partition transaction atomically, and none of it when an ETag is stale', async () => {
    await store.insert('p4', 'device', { state: 'received', count: 0 });
    const device = await store.get('p4', 'device');
    await store.transact([
      { kind: 'update', partitionKey: 'p4', rowKey: 'device', value: { state: 'importing', count: 1 }, etag: device!.etag },
      { kind: 'insert', partitionKey: 'p4', rowKey: 'event-1', value: { state: 'importing', count: 1 } },
    ]);
    await expect(
      store.transact([
        { kind: 'update', partitionKey: 'p4', rowKey: 'device', value: { state: 'registered', count: 2 }, etag: device!.etag },
        { kind: 'insert', partitionKey: 'p4', rowKey: 'event-2', value: { state: 'registered', count: 2 } },
      ]),
    ).rejects.toBeInstanceOf(ConcurrencyConflictError);
    expect(await store.get('p4', 'event-2')).toBeUndefined();
    const rows = [];
    for await (const row of store.partition('p4')) rows.push(row.rowKey);
    expect(rows).toEqual(['device', 'event-1']);
  });

  it('reports a duplicate insert inside a transaction as EntityExistsError and writes nothing', async () => {
    await store.insert('p5', 'event-1', { state: 'x', count: 0 });
    await expect(
      store.transact([
        { kind: 'insert', partitionKey: 'p5', rowKey: 'device', value: { state: 'received', count: 0 } },
        { kind: 'insert', partitionKey: 'p5', rowKey: 'event-1', value: { state: 'received', count: 0 } },
      ]),
    ).rejects.toBeInstanceOf(EntityExistsError);
    expect(await store.get('p5', 'device')).toBeUndefined();
  });

  it('lists a partition by row-key prefix and queries by filter', async () => {
    for (const rk of ['event-01', 'event-02', 'other']) await store.insert('p6', rk, { state: 'a', count: 1 });
    const events = [];
    for await (const row of store.partition('p6', 'event-')) events.push(row.rowKey);
    expect(events).toEqual(['event-01', 'event-02']);
    const matched = [];
    for await (const row of store.query(`PartitionKey eq 'p6' and RowKey eq 'other'`)) matched.push(row.rowKey);
    expect(matched).toEqual(['other']);
  });

  it('escapes characters Table Storage forbids in keys, reversibly', async () => {
    const serial = 'AB/12#3?4\\5%6';
    const key = toKey(serial);
    expect(key).not.toMatch(/[/#?\\]/);
    expect(fromKey(key)).toBe(serial);
    await store.insert(key, 'device', { state: 'received', count: 1 });
    expect((await store.get(key, 'device'))?.value.state).toBe('received');
  });

  it('counts its round trips by kind: a query pinned to one partition apart from a scan, one per page', async () => {
    await store.transact([
      { kind: 'insert', partitionKey: 'counted', rowKey: 'a', value: { state: 'received', count: 1 } },
      { kind: 'insert', partitionKey: 'counted', rowKey: 'b', value: { state: 'received', count: 2 } },
    ]);
    resetTableOperationCounts();
    await store.get('counted', 'a');
    await store.get('counted', 'missing');
    for await (const _row of store.partition('counted')) void _row;
    for await (const _row of store.query(`state eq 'received'`)) void _row;
    await store.transact([{ kind: 'delete', partitionKey: 'counted', rowKey: 'a' }]);
    const counts = tableOperationCounts()[store.tableName];
    expect(counts?.get).toEqual({ requests: 2, entities: 1 });
    expect(counts?.['partition-query']).toEqual({ requests: 1, entities: 2 });
    expect(counts?.scan?.requests).toBe(1);
    expect(counts?.transaction).toEqual({ requests: 1, entities: 1 });
  });
});
