import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { TableBatcher } from '../../../../shared/adapters/tables/table-batcher.js';
import { TableStore, type EntityProps, type WriteOp } from '../../../../shared/adapters/tables/table-store.js';

/**
 * The batcher of unguarded index writes, on Azurite: transactions of one partition, and the
 * order of two writes to one row kept when they leave in separate transactions.
 */

async function table(): Promise<TableStore<EntityProps>> {
  const store = TableStore.connect<EntityProps>(inject('storageConnectionString'), `tb${randomUUID().replace(/-/g, '')}`);
  await store.ensureTable();
  return store;
}

/**
 * The same table, its first transaction held back `ms` on its way, as a request can be behind
 * another on a busy connection: what it writes lands after whatever is sent meanwhile.
 */
function firstTransactionLate(store: TableStore<EntityProps>, ms: number): { store: TableStore<EntityProps>; sent: string[] } {
  let first = true;
  const sent: string[] = [];
  const late = Object.create(store) as TableStore<EntityProps>;
  late.transact = async (ops: readonly WriteOp<EntityProps>[]) => {
    const held = first;
    first = false;
    if (held) await sleep(ms);
    sent.push(ops.map((op) => `${op.kind} ${op.rowKey}`).join(', '));
    return store.transact(ops);
  };
  return { store: late, sent };
}

describe('TableBatcher', () => {
  it('sends a later write of a row only once the transaction still writing it is stored: an entry removed stays removed', async () => {
    const store = await table();
    const { store: late, sent } = firstTransactionLate(store, 300);
    const batcher = new TableBatcher(late, 5);

    const added = batcher.write({ kind: 'upsert', partitionKey: 'imports', rowKey: 'dev1', value: { state: 'importing' } }, 1);
    await sleep(50); // the upsert's transaction has left, and is slow
    const removed = batcher.write({ kind: 'delete', partitionKey: 'imports', rowKey: 'dev1' }, 2);
    await Promise.all([added, removed]);

    expect(sent).toEqual(['upsert dev1', 'delete dev1']);
    expect(await store.get('imports', 'dev1')).toBeUndefined();
  });

  it('does not hold back writes of other rows of the partition behind a slow transaction', async () => {
    const store = await table();
    const { store: late } = firstTransactionLate(store, 300);
    const batcher = new TableBatcher(late, 5);

    const slow = batcher.write({ kind: 'upsert', partitionKey: 'imports', rowKey: 'dev1', value: { state: 'importing' } });
    await sleep(50);
    let otherStoredFirst = false;
    const other = batcher
      .write({ kind: 'upsert', partitionKey: 'imports', rowKey: 'dev2', value: { state: 'importing' } })
      .then(async () => {
        otherStoredFirst = (await store.get('imports', 'dev1')) === undefined;
      });
    await Promise.all([slow, other]);

    expect(otherStoredFirst).toBe(true);
    await batcher.idle();
    expect((await store.get('imports', 'dev1'))?.value).toMatchObject({ state: 'importing' });
    expect((await store.get('imports', 'dev2'))?.value).toMatchObject({ state: 'importing' });
  });
});
