import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DeviceRepository, waitingTableOf } from '../../../../shared/adapters/tables/device-repository.js';
import { TableStore, type EntityProps } from '../../../../shared/adapters/tables/table-store.js';
import { newDevice, ownerOf, transition } from '../../../../shared/domain/device.js';
import { IllegalTransitionError } from '../../../../shared/errors.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../../../shared/errors.js';

const now = new Date('2026-01-01T10:00:00Z');

describe('DeviceRepository against Azurite', () => {
  let repo: DeviceRepository;

  beforeAll(async () => {
    repo = DeviceRepository.connect(inject('storageConnectionString'), `dev${randomUUID().replace(/-/g, '')}`);
    await repo.ensure();
  });

  const first = (serialNumber: string) =>
    newDevice(
      { serialNumber, supplierId: 'contoso', batchId: 'b1', line: 2, groupTag: 'MPS-STD', hardwareHash: 'T0E=' },
      'received',
      'accepted-from-file',
      'c1',
      now,
    );

  it('creates a device with its first event, and refuses a second creation', async () => {
    const { record, event } = first('SER-001');
    const saved = await repo.create(record, event);
    expect(saved.value.state).toBe('received');
    await expect(repo.create(record, event)).rejects.toBeInstanceOf(EntityExistsError);
    expect(await repo.history('ser-001')).toHaveLength(1);
  });

  it('saves transitions with their events, chaining ETags from the transaction', async () => {
    const { record, event } = first('SER-002');
    let current = await repo.create(record, event);
    const toImporting = transition(current.value, {
      to: 'importing',
      reason: 'import-submitted',
      correlationId: 'c2',
      now,
      changes: { importId: 'imp-1' },
    });
    current = await repo.save(toImporting.record, current, toImporting.event);
    const toRegistered = transition(current.value, { to: 'registered', reason: 'import-complete', correlationId: 'c3', now });
    current = await repo.save(toRegistered.record, current, toRegistered.event);
    const stored = await repo.get('SER-002');
    expect(stored?.value).toMatchObject({ state: 'registered', importId: 'imp-1', eventCount: 3 });
    const history = await repo.history('SER-002');
    expect(history.map((e) => [e.from, e.to, e.reason])).toEqual([
      [undefined, 'received', 'accepted-from-file'],
      ['received', 'importing', 'import-submitted'],
      ['importing', 'registered', 'import-complete'],
    ]);
  });

  it('keeps the owner; a record stored without one (written before owners were recorded) reads as having none', async () => {
    const owned = first('SER-OWN-1');
    expect((await repo.create(owned.record, owned.event)).value.ownerId).toBe('contoso');
    expect((await repo.get('SER-OWN-1'))?.value.ownerId).toBe('contoso');
    const legacy = first('SER-OWN-2');
    await repo.create({ ...legacy.record, ownerId: undefined }, legacy.event);
    const stored = (await repo.get('SER-OWN-2'))!.value;
    expect(stored.ownerId).toBeUndefined();
    expect(ownerOf(stored)).toBe('contoso');
  });

  it('refuses a write based on a stale read, leaving record and history untouched', async () => {
    const { record, event } = first('SER-003');
    const stale = await repo.create(record, event);
    const a = transition(stale.value, { to: 'importing', reason: 'import-submitted', correlationId: 'a', now });
    await repo.save(a.record, stale, a.event);
    const b = transition(stale.value, { to: 'rejected', reason: 'rejected-from-file', correlationId: 'b', now });
    await expect(repo.save(b.record, stale, b.event)).rejects.toBeInstanceOf(ConcurrencyConflictError);
    expect((await repo.get('SER-003'))?.value.state).toBe('importing');
    expect((await repo.history('SER-003')).map((e) => e.correlationId)).toEqual(['c1', 'a']);
  });

  it('never lets a transition move a device backwards', async () => {
    const { record } = first('SER-004');
    const registered = { ...record, state: 'registered' as const };
    expect(() => transition(registered, { to: 'importing', reason: 'import-submitted', correlationId: 'x', now })).toThrow(
      IllegalTransitionError,
    );
    expect(() =>
      transition({ ...record, state: 'enrolled' }, { to: 'profile-assigned', reason: 'profile-assigned', correlationId: 'x', now }),
    ).toThrow(IllegalTransitionError);
  });

  it('finds devices by state', async () => {
    const { record, event } = newDevice(
      { serialNumber: 'SER/005', supplierId: 'fabrikam', batchId: 'b-find', line: 3 },
      'received',
      'accepted-from-file',
      'c',
      now,
    );
    await repo.create(record, event);
    const received = [];
    for await (const device of repo.matching([{ state: 'received' }])) received.push(device.value.serialNumber);
    expect(received).toContain('SER/005');
  });

  it('filters by state and waiting step in the service: a poll never reads the settled fleet', async () => {
    const seed = async (
      serialNumber: string,
      state: 'enrolled' | 'stalled' | 'registered',
      waitingFor?: 'group-tag' | 'import' | 'enrolment',
    ) => {
      const { record, event } = newDevice(
        { serialNumber, supplierId: 'contoso', batchId: 'b-watch', line: 2 },
        'received',
        'accepted-from-file',
        'c',
        now,
      );
      await repo.create({ ...record, state, waitingFor }, event);
    };
    await seed('W-ENROLLED', 'enrolled');
    await seed('W-ENROLLED-RETAG', 'enrolled', 'group-tag');
    await seed('W-STALLED-IMPORT', 'stalled', 'import');
    await seed('W-STALLED-ENROLMENT', 'stalled', 'enrolment');
    await seed('W-REGISTERED', 'registered');
    const found: string[] = [];
    for await (const device of repo.matching([
      { state: 'registered' },
      { state: 'stalled', waitingFor: ['enrolment'] },
      { state: 'enrolled', waitingFor: ['group-tag'] },
    ])) {
      if (device.value.serialNumber.startsWith('W-')) found.push(device.value.serialNumber);
    }
    expect(found.sort()).toEqual(['W-ENROLLED-RETAG', 'W-REGISTERED', 'W-STALLED-ENROLMENT']);
  });

  it('reads a record and its history in one partition query, leaving out events the record does not count yet', async () => {
    const name = `dev${randomUUID().replace(/-/g, '')}`;
    const store = TableStore.connect<EntityProps>(inject('storageConnectionString'), name);
    const together = new DeviceRepository(store, TableStore.connect(inject('storageConnectionString'), waitingTableOf(name)));
    await together.ensure();
    const { record, event } = first('SER-TOGETHER');
    let current = await together.create(record, event);
    const next = transition(current.value, { to: 'importing', reason: 'import-submitted', correlationId: 'c2', now });
    current = await together.save(next.record, current, next.event);
    // An event row the record does not count (as a query running over pages could meet, when a
    // transition lands between its pages): the history shown must end where the record is.
    const rows = [];
    for await (const row of store.query(`RowKey eq 'device'`)) rows.push(row);
    await store.insert(rows[0]!.partitionKey, 'event-000003', {
      kind: 'event',
      serialNumber: 'SER-TOGETHER',
      sequence: 3,
      at: now.toISOString(),
      from: 'importing',
      to: 'registered',
      reason: 'import-complete',
      correlationId: 'c3',
      generation: 1,
    });

    const get = vi.spyOn(store, 'get');
    const query = vi.spyOn(store, 'query');
    const found = await together.withHistory(' ser-together ');

    expect(found?.record.value).toMatchObject({ serialNumber: 'SER-TOGETHER', state: 'importing', eventCount: 2 });
    expect(found?.record.etag).toBe(current.etag);
    expect(found?.history.map((e) => [e.sequence, e.to])).toEqual([
      [1, 'received'],
      [2, 'importing'],
    ]);
    expect(get).not.toHaveBeenCalled();
    expect(query).toHaveBeenCalledTimes(1);
    expect(query.mock.calls[0]?.[0]).toBe(`PartitionKey eq '${rows[0]!.partitionKey}'`);
    expect(await together.withHistory('SER-NEVER-SEEN')).toBeUndefined();
  });

  it("filters by state and file in the service: a file's stalled devices, and no other", async () => {
    const seed = async (serialNumber: string, batchId: string, state: 'stalled' | 'registered', waitingFor?: 'import' | 'reprovision') => {
      const { record, event } = newDevice(
        { serialNumber, supplierId: 'contoso', batchId, line: 2 },
        'received',
        'accepted-from-file',
        'c',
        now,
      );
      await repo.create({ ...record, state, waitingFor }, event);
    };
    await seed('F-STALLED-1', 'b-file', 'stalled', 'import');
    await seed('F-STALLED-2', 'b-file', 'stalled', 'reprovision');
    await seed('F-REGISTERED', 'b-file', 'registered');
    await seed('F-STALLED-OTHER', 'b-other', 'stalled', 'import');
    const found: string[] = [];
    for await (const device of repo.matching([{ state: 'stalled', batchId: 'b-file' }])) found.push(device.value.serialNumber);
    expect(found.sort()).toEqual(['F-STALLED-1', 'F-STALLED-2']);
    const onImport: string[] = [];
    for await (const device of repo.matching([{ state: 'stalled', waitingFor: ['import'], batchId: 'b-file' }]))
      onImport.push(device.value.serialNumber);
    expect(onImport).toEqual(['F-STALLED-1']);
  });
});
