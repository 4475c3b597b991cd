import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { DeviceRepository, indexPartitionOf, waitingTableOf } from '../../../../shared/adapters/tables/device-repository.js';
import { TableStore, toKey, type EntityProps } from '../../../../shared/adapters/tables/table-store.js';
import { newDevice, serialKey, transition, type DeviceRecord } from '../../../../shared/domain/device.js';
import { ConcurrencyConflictError } from '../../../../shared/errors.js';
import { resetTableOperationCounts, tableOperationCounts } from '../../../../shared/adapters/tables/table-metrics.js';
import type { Versioned } from '../../../../shared/services/ports.js';

/**
 * The index of waiting devices beside the devices table: entries move with their devices, a
 * write cut short half way never hides a device from its follow-up, and an index missing
 * beside devices recorded before it is built once from them.
 */

const now = new Date('2026-01-01T10:00:00Z');

const tableNames = new WeakMap<DeviceRepository, string>();
const tableNameOf = (repo: DeviceRepository): string => tableNames.get(repo)!;

function tables(): { devices: TableStore<EntityProps>; index: TableStore<EntityProps>; repo: DeviceRepository; name: string } {
  const connection = inject('storageConnectionString');
  const name = `wix${randomUUID().replace(/-/g, '')}`;
  const devices = TableStore.connect<EntityProps>(connection, name);
  const index = TableStore.connect<EntityProps>(connection, waitingTableOf(name));
  const repo = new DeviceRepository(devices, index, () => now);
  tableNames.set(repo, name);
  return { devices, index, repo, name };
}

const fresh = (serialNumber: string, batchId = 'b1', line = 2) =>
  newDevice(
    { serialNumber, supplierId: 'contoso', batchId, line, groupTag: 'MPS-STD', hardwareHash: `HASH-${serialNumber}` },
    'received',
    'accepted-from-file',
    'c1',
    now,
  );

async function serialsIn(repo: DeviceRepository, state: DeviceRecord['state']): Promise<string[]> {
  const found: string[] = [];
  for await (const device of repo.matching([{ state }])) found.push(device.value.serialNumber);
  return found.sort();
}

/** Where the entry of a device of file b1, line 2 (as `fresh` makes them) belongs under a follow-up. */
const at = (followUp: Parameters<typeof indexPartitionOf>[0], serialNumber: string): string =>
  `${indexPartitionOf(followUp, { batchId: 'b1', line: 2 })}/${toKey(serialKey(serialNumber))}`;

async function entries(index: TableStore<EntityProps>, repo: DeviceRepository): Promise<string[]> {
  await repo.indexWritten();
  const found: string[] = [];
  for await (const row of index.query()) if (row.partitionKey !== '_index') found.push(`${row.partitionKey}/${row.rowKey}`);
  return found.sort();
}

describe('the index of waiting devices', () => {
  it('moves each entry with its device, leaves none for a settled one, and never loads the hash', async () => {
    const { repo, index } = tables();
    await repo.ensure();
    let device: Versioned<DeviceRecord> = await repo.create(fresh('W/1').record, fresh('W/1').event);
    expect(await entries(index, repo)).toEqual([at('received', 'W/1')]);
    const step = async (to: DeviceRecord['state'], changes: Partial<DeviceRecord> = {}) => {
      const next = transition(device.value, { to, reason: 'import-submitted', correlationId: 'c', now, changes });
      device = await repo.save(next.record, device, next.event);
    };
    await step('importing', { importId: 'imp-1' });
    const [importing] = await arrayOf(repo.matching([{ state: 'importing' }]));
    expect(importing?.value).toMatchObject({ serialNumber: 'W/1', importId: 'imp-1', hardwareHash: undefined });
    expect(importing?.etag).toBe(device.etag);
    // Saved from the index, without its hash: the stored hash stays.
    const fromIndex = transition(importing!.value, {
      to: 'importing',
      reason: 'import-submitted',
      correlationId: 'c',
      now,
      changes: { importId: 'imp-2' },
    });
    device = await repo.save(fromIndex.record, importing!, fromIndex.event);
    expect((await repo.get('W/1'))?.value).toMatchObject({ importId: 'imp-2', hardwareHash: 'HASH-W/1' });
    await step('registered', { autopilotId: 'ap-1', hardwareHash: undefined });
    expect((await repo.get('W/1'))?.value.hardwareHash).toBeUndefined();
    expect(await entries(index, repo)).toEqual([at('autopilot', 'W/1')]);
    await step('profile-assigned');
    await step('enrolled');
    expect(await entries(index, repo)).toEqual([]);
    expect(await serialsIn(repo, 'registered')).toEqual([]);
  });

  it('never hides a device whose write stopped half way: before its transaction, or after it', async () => {
    const { repo, index, devices } = tables();
    await repo.ensure();
    // Stopped after step 1 (the pending entry) and before its transaction: the device is still received.
    const a = await repo.create(fresh('HALF-A').record, fresh('HALF-A').event);
    const next = transition(a.value, { to: 'importing', reason: 'import-submitted', correlationId: 'c', now });
    await index.upsert(indexPartitionOf('importing', a.value), toKey(serialKey('HALF-A')), {
      serialNumber: 'HALF-A',
      state: 'importing',
      pending: true,
      indexedAt: now.toISOString(),
    });
    expect(await serialsIn(repo, 'received')).toEqual(['HALF-A']);
    expect(await serialsIn(repo, 'importing')).toEqual([]);
    // Stopped after its transaction (step 2), before the entries moved: found where it is now, from its record.
    await devices.update(
      toKey(serialKey('HALF-A')),
      'device',
      { ...(await devices.get(toKey(serialKey('HALF-A')), 'device'))!.value, state: 'importing' },
      (await repo.get('HALF-A'))!.etag,
    );
    expect(await serialsIn(repo, 'importing')).toEqual(['HALF-A']);
    // The old entry still stands for the old record: saving through it conflicts, and the conflict re-indexes the device.
    const [stale] = await arrayOf(repo.matching([{ state: 'received' }]));
    await expect(repo.save(next.record, stale!, next.event)).rejects.toBeInstanceOf(ConcurrencyConflictError);
    expect(await entries(index, repo)).toEqual([at('importing', 'HALF-A')]);
    expect(await serialsIn(repo, 'received')).toEqual([]);
  });

  it('drops a pending entry whose device never moved, once its writer cannot still be at work', async () => {
    const { repo, index } = tables();
    await repo.ensure();
    const ghost = await repo.create(fresh('GHOST').record, fresh('GHOST').event);
    const old = new Date(now.getTime() - 60 * 60_000).toISOString();
    await index.upsert(indexPartitionOf('importing', ghost.value), toKey(serialKey('GHOST')), {
      serialNumber: 'GHOST',
      state: 'importing',
      pending: true,
      indexedAt: old,
    });
    expect(await serialsIn(repo, 'importing')).toEqual([]);
    expect(await entries(index, repo)).toEqual([at('received', 'GHOST')]);
  });

  it('writes the pending entries of devices announced together ahead of them, and none more per device', async () => {
    const { repo, index } = tables();
    await repo.ensure();
    const serials = Array.from({ length: 30 }, (_, n) => `ANN-${n}`);
    const created = await Promise.all(serials.map((serial) => repo.create(fresh(serial).record, fresh(serial).event)));
    await repo.indexWritten();
    await repo.announce(
      'importing',
      created.map((device) => device.value),
    );
    // Announced, not moved yet: still found where they are, and not where they are going.
    expect(await serialsIn(repo, 'importing')).toEqual([]);
    expect(await serialsIn(repo, 'received')).toHaveLength(30);
    resetTableOperationCounts();
    await Promise.all(
      created.map((device) => {
        const next = transition(device.value, { to: 'importing', reason: 'import-submitted', correlationId: 'c', now });
        return repo.save(next.record, device, next.event);
      }),
    );
    await repo.indexWritten();
    // The 30 new entries and the 30 removals, gathered into transactions; nothing ahead of each device.
    const written = tableOperationCounts()[waitingTableOf(tableNameOf(repo))]?.transaction;
    expect(written?.entities).toBe(60);
    expect(written?.requests).toBeLessThan(30);
    expect(await serialsIn(repo, 'importing')).toHaveLength(30);
    expect(await entries(index, repo)).toHaveLength(30);
  });

  it("spreads a follow-up over partitions by file and range of lines, and reads a file's share alone", async () => {
    const { repo, index } = tables();
    await repo.ensure();
    const devices = [
      fresh('F1-A', 'b1', 2),
      fresh('F1-B', 'b1', 1502),
      fresh('F1-C', 'b1', 2502),
      fresh('F2-A', 'b2', 2),
      fresh('F2-B', 'b2', 3),
    ];
    await Promise.all(devices.map(({ record, event }) => repo.create(record, event)));
    const partitions = (await entries(index, repo)).map((entry) => entry.slice(0, entry.lastIndexOf('/')));
    // One partition per file and range of lines: a delivery never lands in one partition.
    expect(new Set(partitions).size).toBe(4);
    expect(await serialsIn(repo, 'received')).toEqual(['F1-A', 'F1-B', 'F1-C', 'F2-A', 'F2-B']);
    resetTableOperationCounts();
    const ofB2: string[] = [];
    for await (const device of repo.matching([{ state: 'received', batchId: 'b2' }])) ofB2.push(device.value.serialNumber);
    expect(ofB2.sort()).toEqual(['F2-A', 'F2-B']);
    // Only file b2's entries were read, by a query of its range of keys.
    expect(tableOperationCounts()[waitingTableOf(tableNameOf(repo))]).toEqual({ 'partition-query': { requests: 1, entities: 2 } });
  });

  it('moves an index of the earlier layout (a partition per follow-up) to the present one, once', async () => {
    const { repo, index, devices, name } = tables();
    const earlier = new DeviceRepository(devices, TableStore.connect(inject('storageConnectionString'), `${name}unused`), () => now);
    await earlier.ensure();
    const created = await earlier.create(fresh('OLD-1').record, fresh('OLD-1').event);
    // What the earlier layout left: the entry under its follow-up's one partition, and its mark.
    await index.ensureTable();
    await index.upsert('received', toKey(serialKey('OLD-1')), { serialNumber: 'OLD-1', state: 'received', deviceEtag: created.etag });
    await index.upsert('_index', 'built', { builtAt: now.toISOString() });
    await repo.ensure();
    expect(await entries(index, repo)).toEqual([at('received', 'OLD-1')]);
    expect(await serialsIn(repo, 'received')).toEqual(['OLD-1']);
    // Marked done: a second start reads nothing of the devices table.
    resetTableOperationCounts();
    await repo.ensure();
    expect(tableOperationCounts()[tableNameOf(repo)]).toBeUndefined();
  });

  it('is built once from the devices recorded before it existed', async () => {
    const { repo, index, devices, name } = tables();
    // Devices written the earlier way: a devices table and no index.
    const earlier = new DeviceRepository(devices, TableStore.connect(inject('storageConnectionString'), `${name}unused`), () => now);
    await earlier.ensure();
    for (const serial of ['UP-1', 'UP-2']) await earlier.create(fresh(serial).record, fresh(serial).event);
    const enrolled = fresh('UP-3');
    await earlier.create({ ...enrolled.record, state: 'enrolled', hardwareHash: undefined }, enrolled.event);
    await repo.ensure();
    expect(await serialsIn(repo, 'received')).toEqual(['UP-1', 'UP-2']);
    expect(await entries(index, repo)).toHaveLength(2);
    const [entry] = await arrayOf(repo.matching([{ state: 'received' }]));
    const { hardwareHash: _hash, ...stored } = (await repo.get(entry!.value.serialNumber))!.value;
    expect(entry!.value).toEqual({ ...stored, hardwareHash: undefined });
  });
});

async function arrayOf<T>(items: AsyncIterable<T>): Promise<T[]> {
  const found: T[] = [];
  for await (const item of items) found.push(item);
  return found;
}
