import type { StorageAccess } from '../storage-access.js';
import type { DeviceEvent, DeviceRecord } from '../../domain/device.js';
import { serialKey } from '../../domain/device.js';
import { isDeviceState, type DeviceState } from '../../domain/lifecycle.js';
import { FOLLOW_UPS, followUpOf, followUpsFor, holdsHardwareHash, matchesClause, type FollowUp } from '../../domain/follow-ups.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import type { ReprovisionRequest } from '../../domain/reprovision-request.js';
import type { DeviceStore, DeviceWithHistory, StateClause, Versioned } from '../../services/ports.js';
import { TableBatcher } from './table-batcher.js';
import { TableStore, toKey, type EntityProps, type StoredEntity, type WriteOp } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * Devices and their histories share one partition per serial number, so a transition
 * (record update guarded by ETag + history event insert) is one atomic transaction.
 * Row keys: `device` for the record, `event-000001`… for the history in order.
 *
 * Beside them, the index of waiting devices (`waiting`): an entry per waiting device under its
 * follow-up (`followUpOf`: received, importing, autopilot, reprovisioning, stalled-<step>), row
 * key the serial key, holding a copy of the record without its hardware hash and the ETag of the
 * record it copies. A follow-up's entries are spread over partitions by file and range of lines
 * (`indexPartitionOf`), read as one range of keys. Polls, the sweeper and re-drives read those
 * ranges only, so what they read grows with the devices waiting, never with the settled fleet,
 * and no hash is loaded; a re-drive or a file's summary reads only its file's partitions.
 *
 * A table transaction cannot span partitions, so the index is written around the device's
 * transaction, in an order that never loses a device:
 * 1. before it, an entry under the follow-up the device moves into, marked `pending`;
 * 2. the device's transaction;
 * 3. after it, that entry with the new ETag, and the entry under the follow-up it left deleted.
 * A crash after 1 leaves a pending entry: a reader checks it against the record (a point read)
 * and keeps or drops it. A crash after 2 leaves the old entry too, with the old ETag: the first
 * save through it fails its ETag check, and the conflict re-indexes the device from its record.
 * The index writes of concurrent transitions go out together, up to 100 per transaction
 * (`TableBatcher`), so the index costs a fraction of a round trip per device.
 */

const DEVICE_ROW = 'device';
const eventRow = (sequence: number): string => `event-${String(sequence).padStart(6, '0')}`;

type Row = EntityProps;

/** An index entry: the record's columns without its hash, and what the entry knows of the record. */
type EntryRow = Row & { deviceEtag?: string; pending?: boolean; indexedAt?: string };

/**
 * How long a pending entry whose device is elsewhere is left alone: its writer may be between
 * steps 1 and 3 (real time, far longer than any transaction takes).
 */
const PENDING_GRACE_MS = 10 * 60_000;

/**
 * How long index writes wait for others to go out with (real ms): a moment for the pending
 * entries a transaction waits on; half a second for those nobody waits on, which is what it
 * takes a busy store to move enough devices to fill a transaction (a reader in this process
 * sends them first, and one lost is what a crash after step 2 leaves).
 */
const AHEAD_LINGER_MS = 2;
const BEHIND_LINGER_MS = 500;

/** Where the index records that it was built from the devices recorded before it (not a follow-up). */
const META_PARTITION = '_index';
/** Marks the index built in its present layout; `built` marked the earlier one, a partition per follow-up. */
const BUILT_ROW = 'built-by-file';

/**
 * Lines of one file whose devices share an index partition. Table Storage serves each partition
 * from one server, with a target of 2,000 entities a second (its scalability targets), and an
 * emulator's cost per write grows with the partition it lands in: one partition per follow-up
 * would hold every device of a delivery. Devices that move together (an import chunk, a page of
 * a listing) are neighbouring lines of one file, so their index writes still share transactions.
 */
const LINES_PER_PARTITION = 1000;

/**
 * The index partition of a device under a follow-up: `<follow-up>|<file>~<n>`, n counting ranges
 * of lines. A follow-up is the range of keys starting `<follow-up>|` (no follow-up's name is another's
 * followed by `|`), a file's share of it the range starting `<follow-up>|<file>~`.
 */
export function indexPartitionOf(followUp: FollowUp, device: Pick<DeviceRecord, 'batchId' | 'line'>): string {
  const line = Number.isFinite(device.line) && device.line > 0 ? device.line : 0;
  return `${indexPrefixOf(followUp, device.batchId ?? '')}${Math.floor(line / LINES_PER_PARTITION)}`;
}

/** The start of every key of a follow-up's partitions, or of those of one file when `batchId` is given. */
function indexPrefixOf(followUp: FollowUp, batchId?: string): string {
  return batchId === undefined ? `${followUp}|` : `${followUp}|${toKey(batchId)}~`;
}

/** The index partition a record belongs in, if it waits on anything. */
function entryPartitionOf(record: DeviceRecord): string | undefined {
  const followUp = followUpOf(record);
  return followUp ? indexPartitionOf(followUp, record) : undefined;
}

/** Key ranges covering every clause, none inside another (a file's range inside its follow-up's). */
function rangesFor(clauses: readonly StateClause[]): string[] {
  const prefixes = [
    ...new Set(clauses.flatMap((clause) => followUpsFor(clause.state, clause.waitingFor).map((f) => indexPrefixOf(f, clause.batchId)))),
  ].sort();
  return prefixes.filter((prefix, at) => !prefixes.slice(0, at).some((shorter) => prefix.startsWith(shorter)));
}

/** Every column of a device row but its hash: what an index entry copies. */
const INDEXED_COLUMNS = [
  'kind',
  'serialNumber',
  'state',
  'generation',
  'supplierId',
  'ownerId',
  'batchId',
  'line',
  'groupTag',
  'autopilotGroupTag',
  'productKey',
  'assignedUser',
  'manufacturer',
  'model',
  'reasons',
  'importId',
  'importedIdentityId',
  'autopilotId',
  'managedDeviceId',
  'waitingFor',
  'waitingSince',
  'deadlineAt',
  'pollAttempt',
  'profileBaseline',
  'note',
  'reprovision',
  'createdAt',
  'updatedAt',
  'eventCount',
];

/** The index table of a devices table: `waiting` for `devices`, a suffixed name for others (tests). */
export function waitingTableOf(devicesTable: string): string {
  return devicesTable === TABLES.devices ? TABLES.waiting : `${devicesTable}waiting`;
}

function toDeviceRow(record: DeviceRecord): Row {
  return {
    kind: 'device',
    serialNumber: record.serialNumber,
    state: record.state,
    generation: record.generation,
    supplierId: record.supplierId,
    ownerId: record.ownerId,
    batchId: record.batchId,
    line: record.line,
    groupTag: record.groupTag,
    autopilotGroupTag: record.autopilotGroupTag,
    productKey: record.productKey,
    hardwareHash: record.hardwareHash,
    assignedUser: record.assignedUser,
    manufacturer: record.manufacturer,
    model: record.model,
    reasons: JSON.stringify(record.reasons),
    importId: record.importId,
    importedIdentityId: record.importedIdentityId,
    autopilotId: record.autopilotId,
    managedDeviceId: record.managedDeviceId,
    waitingFor: record.waitingFor,
    waitingSince: record.waitingSince,
    deadlineAt: record.deadlineAt,
    pollAttempt: record.pollAttempt,
    profileBaseline: record.profileBaseline,
    note: record.note,
    reprovision: record.reprovision ? JSON.stringify(record.reprovision) : undefined,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    eventCount: record.eventCount,
  };
}

/**
 * The record as a Merge of its stored row: a property the record leaves undefined is cleared
 * ('' reads back as undefined), except the hardware hash, which records read from the index do
 * not carry: it is written when present, cleared once the device no longer needs it
 * (`holdsHardwareHash`), and otherwise left as stored.
 */
function rowForSave(record: DeviceRecord): Row {
  const row: Row = {};
  for (const [key, value] of Object.entries(toDeviceRow(record))) row[key] = value ?? '';
  if (record.hardwareHash === undefined) {
    if (holdsHardwareHash(record.state)) delete row.hardwareHash;
    else row.hardwareHash = '';
  }
  return row;
}

function toEntryRow(record: DeviceRecord, extra: { deviceEtag?: string; pending: boolean; indexedAt: string }): EntryRow {
  const { hardwareHash: _hash, ...row } = toDeviceRow(record);
  return { ...row, ...extra };
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const num = (value: unknown, fallback = 0): number => (typeof value === 'number' ? value : fallback);

function fromDeviceRow(row: Row): DeviceRecord {
  const state = String(row.state);
  if (!isDeviceState(state)) throw new Error(`Stored device has an unknown state "${state}"`);
  return {
    serialNumber: String(row.serialNumber),
    state,
    generation: num(row.generation, 1),
    supplierId: String(row.supplierId ?? ''),
    // Absent on records written before owners were recorded: see ownerOf.
    ownerId: str(row.ownerId),
    batchId: String(row.batchId ?? ''),
    line: num(row.line),
    groupTag: str(row.groupTag),
    autopilotGroupTag: str(row.autopilotGroupTag),
    productKey: str(row.productKey),
    hardwareHash: str(row.hardwareHash),
    assignedUser: str(row.assignedUser),
    manufacturer: str(row.manufacturer),
    model: str(row.model),
    reasons: JSON.parse(String(row.reasons ?? '[]')) as string[],
    importId: str(row.importId),
    importedIdentityId: str(row.importedIdentityId),
    autopilotId: str(row.autopilotId),
    managedDeviceId: str(row.managedDeviceId),
    waitingFor: str(row.waitingFor) as DeviceRecord['waitingFor'],
    waitingSince: str(row.waitingSince),
    deadlineAt: str(row.deadlineAt),
    pollAttempt: num(row.pollAttempt),
    profileBaseline: str(row.profileBaseline),
    note: str(row.note),
    reprovision: str(row.reprovision) === undefined ? undefined : (JSON.parse(String(row.reprovision)) as ReprovisionRequest),
    createdAt: String(row.createdAt ?? ''),
    updatedAt: String(row.updatedAt ?? ''),
    eventCount: num(row.eventCount),
  };
}

function toEventRow(event: DeviceEvent, serialNumber: string): Row {
  return {
    kind: 'event',
    serialNumber,
    sequence: event.sequence,
    at: event.at,
    from: event.from,
    to: event.to,
    reason: event.reason,
    correlationId: event.correlationId,
    generation: event.generation,
    batchId: event.batchId,
    detail: event.detail ? JSON.stringify(event.detail) : undefined,
  };
}

function fromEventRow(row: Row): DeviceEvent {
  return {
    sequence: num(row.sequence),
    at: String(row.at),
    from: str(row.from) as DeviceState | undefined,
    to: String(row.to) as DeviceState,
    reason: String(row.reason) as DeviceEvent['reason'],
    correlationId: String(row.correlationId ?? ''),
    generation: num(row.generation, 1),
    batchId: str(row.batchId),
    detail: typeof row.detail === 'string' ? (JSON.parse(row.detail) as Record<string, unknown>) : undefined,
  };
}

export class DeviceRepository implements DeviceStore {
  /** Pending entries, awaited before their device's transaction: gathered for a moment only. */
  private readonly ahead: TableBatcher<EntryRow>;
  /**
   * Entries written after their device's transaction: not awaited (one lost is what a crash after
   * step 2 leaves, which the order above already covers), so they gather into large transactions.
   */
  private readonly behind: TableBatcher<EntryRow>;
  /** Pending entries written ahead for many devices at once (`announce`), by follow-up/row key, each for one save. */
  private readonly announced = new Set<string>();

  constructor(
    private readonly store: TableStore<Row>,
    private readonly index: TableStore<EntryRow>,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.ahead = new TableBatcher(index, AHEAD_LINGER_MS);
    this.behind = new TableBatcher(index, BEHIND_LINGER_MS);
  }

  static connect(storage: StorageAccess | string, tableName: string = TABLES.devices): DeviceRepository {
    return new DeviceRepository(
      TableStore.connect<Row>(storage, tableName),
      TableStore.connect<EntryRow>(storage, waitingTableOf(tableName)),
    );
  }

  /**
   * Creates the tables, and the index of waiting devices the first time it is missing beside
   * devices recorded before it existed, or is in its earlier layout (an upgrade): the earlier
   * layout's entries removed, then one scan of the devices table, once, marked done in the index.
   * Every step is idempotent, so instances starting together may all do it.
   */
  async ensure(): Promise<void> {
    await Promise.all([this.store.ensureTable(), this.index.ensureTable()]);
    if (await this.index.get(META_PARTITION, BUILT_ROW)) return;
    // The earlier layout's partitions lie outside every range read now: one whose delete fails is never read.
    for (const followUp of FOLLOW_UPS)
      for await (const row of this.index.partition(followUp))
        void this.behind.write({ kind: 'delete', partitionKey: followUp, rowKey: row.rowKey }).catch(() => undefined);
    await this.behind.idle();
    for await (const row of this.store.query(`RowKey eq '${DEVICE_ROW}'`, INDEXED_COLUMNS)) {
      const record = fromDeviceRow(row.value);
      const partition = entryPartitionOf(record);
      if (partition) this.writeBehind(partition, record, row.etag);
    }
    await this.behind.idle();
    await this.index.upsert(META_PARTITION, BUILT_ROW, { builtAt: this.now().toISOString() });
  }

  private partition(serialNumber: string): string {
    return toKey(serialKey(serialNumber));
  }

  async get(serialNumber: string): Promise<Versioned<DeviceRecord> | undefined> {
    const row = await this.store.get(this.partition(serialNumber), DEVICE_ROW);
    return row ? { value: fromDeviceRow(row.value), etag: row.etag } : undefined;
  }

  /** Records a device seen for the first time; EntityExistsError if someone else did first. */
  async create(record: DeviceRecord, event: DeviceEvent): Promise<Versioned<DeviceRecord>> {
    const pk = this.partition(record.serialNumber);
    const into = entryPartitionOf(record);
    // No pending entry first: a new device is `received`, and what follows it up is its file's
    // import message, sent once the file is recorded; a crash before the entry below stops that
    // too, and the intake's run again of the file sends it.
    let saved: Versioned<DeviceRecord>;
    try {
      const etags = await this.store.transact([
        { kind: 'insert', partitionKey: pk, rowKey: DEVICE_ROW, value: toDeviceRow(record) },
        { kind: 'insert', partitionKey: pk, rowKey: eventRow(event.sequence), value: toEventRow(event, record.serialNumber) },
      ]);
      saved = await this.versioned(record, etags);
    } catch (error) {
      if (error instanceof EntityExistsError) await this.reindex(record.serialNumber, [into]);
      throw error;
    }
    if (into) this.writeBehind(into, saved.value, saved.etag);
    return saved;
  }

  /**
   * Saves a new version of the record, guarded by the ETag it was read with (`current`), together
   * with its history event when there is one, and moves its index entry. ConcurrencyConflictError
   * when the record moved on; the index is then brought in line with the record as stored.
   */
  async save(next: DeviceRecord, current: Versioned<DeviceRecord>, event?: DeviceEvent): Promise<Versioned<DeviceRecord>> {
    const pk = this.partition(next.serialNumber);
    const from = entryPartitionOf(current.value);
    const into = entryPartitionOf(next);
    if (into && into !== from && !this.announced.delete(`${into}/${pk}`)) await this.writeEntry(this.ahead, into, next, undefined);
    const ops: WriteOp<Row>[] = [
      { kind: 'update', partitionKey: pk, rowKey: DEVICE_ROW, value: rowForSave(next), etag: current.etag, merge: true },
    ];
    if (event)
      ops.push({ kind: 'insert', partitionKey: pk, rowKey: eventRow(event.sequence), value: toEventRow(event, next.serialNumber) });
    let saved: Versioned<DeviceRecord>;
    try {
      saved = await this.versioned(next, await this.store.transact(ops));
    } catch (error) {
      if (error instanceof ConcurrencyConflictError) await this.reindex(next.serialNumber, [from, into]);
      throw error;
    }
    if (into) this.writeBehind(into, saved.value, saved.etag);
    if (from && from !== into) void this.deleteEntry(from, next).catch(() => undefined);
    return saved;
  }

  async history(serialNumber: string): Promise<DeviceEvent[]> {
    const events: DeviceEvent[] = [];
    for await (const row of this.store.partition(this.partition(serialNumber), 'event-')) events.push(fromEventRow(row.value));
    return events;
  }

  /**
   * One query of the partition: the record row (`device`) sorts before the events
   * (`event-…`), so it comes first. Were a transition to land between two pages of a long
   * history, the events it added would have sequences past the record's `eventCount`: they
   * are left out, so the history never ends in another state than the record.
   */
  async withHistory(serialNumber: string): Promise<DeviceWithHistory | undefined> {
    let record: Versioned<DeviceRecord> | undefined;
    const events: DeviceEvent[] = [];
    for await (const row of this.store.partition(this.partition(serialNumber))) {
      if (row.rowKey === DEVICE_ROW) record = { value: fromDeviceRow(row.value), etag: row.etag };
      else if (row.rowKey.startsWith('event-')) events.push(fromEventRow(row.value));
    }
    if (record === undefined) return undefined;
    const counted = record.value.eventCount;
    return { record, history: events.filter((event) => event.sequence <= counted).sort((a, b) => a.sequence - b.sequence) };
  }

  /**
   * Devices matching any of the clauses, read from the index partitions that can hold them (of
   * the clause's file only, when it names one): nothing settled is read. Their records come
   * without the hardware hash; `save` keeps it.
   */
  async *matching(clauses: readonly StateClause[]): AsyncGenerator<Versioned<DeviceRecord>> {
    // What this process wrote is read back: entries still gathering go out first.
    await this.behind.idle();
    const seen = new Set<string>();
    for (const range of rangesFor(clauses)) {
      for await (const row of this.index.partitionsStartingWith(range)) {
        const device = await this.fromEntry(row);
        if (device === undefined || seen.has(device.value.serialNumber)) continue;
        if (!clauses.some((clause) => matchesClause(device.value, clause))) continue;
        seen.add(device.value.serialNumber);
        yield device;
      }
    }
  }

  /** Step 1 for many devices at once: their pending entries under `into`, in transactions of up to 100. */
  async announce(into: FollowUp, devices: readonly Pick<DeviceRecord, 'serialNumber' | 'batchId' | 'line'>[]): Promise<void> {
    // A bound on what is remembered: an announced device that never saves is forgotten with the rest.
    if (this.announced.size > 100_000) this.announced.clear();
    const indexedAt = this.now().toISOString();
    await Promise.all(
      devices.map(({ serialNumber, batchId, line }) => {
        const partitionKey = indexPartitionOf(into, { batchId, line });
        const rowKey = this.partition(serialNumber);
        // A Merge: an entry already there keeps its copy and is only marked for a reader to check.
        const value: EntryRow = { serialNumber, pending: true, indexedAt };
        return this.ahead.write({ kind: 'upsert', partitionKey, rowKey, value, merge: true }).then(() => {
          this.announced.add(`${partitionKey}/${rowKey}`);
        });
      }),
    );
  }

  /** Resolves once every index write this repository has made so far is stored. */
  async indexWritten(): Promise<void> {
    await Promise.all([this.ahead.idle(), this.behind.idle()]);
  }

  /**
   * Puts the device's entry where its stored record says, and removes it from the index partitions
   * named (those a failed write may have left it under). Run after a conflict, so costs nothing
   * on the way that works.
   */
  private async reindex(serialNumber: string, suspects: readonly (string | undefined)[]): Promise<Versioned<DeviceRecord> | undefined> {
    const stored = await this.get(serialNumber);
    const into = stored ? entryPartitionOf(stored.value) : undefined;
    await Promise.all([
      stored && into ? this.writeEntry(this.behind, into, stored.value, stored.etag) : undefined,
      ...[...new Set(suspects)]
        .filter((s) => s !== undefined && s !== into)
        .map((s) => this.deleteEntry(s!, stored?.value ?? { serialNumber, eventCount: 0 })),
    ]);
    return stored;
  }

  /** An entry as the device it stands for: a pending one checked against the record first. */
  private async fromEntry(row: StoredEntity<EntryRow>): Promise<Versioned<DeviceRecord> | undefined> {
    const etag = row.value.deviceEtag;
    if (row.value.pending !== true && typeof etag === 'string' && etag !== '') return { value: fromDeviceRow(row.value), etag };
    const stored = await this.get(String(row.value.serialNumber));
    if (stored && entryPartitionOf(stored.value) === row.partitionKey) {
      this.writeBehind(row.partitionKey, stored.value, stored.etag);
      return stored;
    }
    const age = this.now().getTime() - Date.parse(String(row.value.indexedAt ?? ''));
    if (!(age < PENDING_GRACE_MS))
      await this.deleteEntry(row.partitionKey, stored?.value ?? { serialNumber: String(row.value.serialNumber), eventCount: 0 });
    return undefined;
  }

  /** Index writes that nobody waits for: a lost one is what a crash would leave, and a reader repairs it. */
  private writeBehind(partition: string, record: DeviceRecord, deviceEtag: string): void {
    void this.writeEntry(this.behind, partition, record, deviceEtag).catch(() => undefined);
  }

  private writeEntry(
    batcher: TableBatcher<EntryRow>,
    partition: string,
    record: DeviceRecord,
    deviceEtag: string | undefined,
  ): Promise<void> {
    const value = toEntryRow(record, {
      deviceEtag: deviceEtag ?? '',
      pending: deviceEtag === undefined,
      indexedAt: this.now().toISOString(),
    });
    // Of two writes of one entry in a transaction, the later version of the device wins.
    return batcher.write(
      { kind: 'upsert', partitionKey: partition, rowKey: this.partition(record.serialNumber), value },
      record.eventCount * 2 + (deviceEtag === undefined ? 0 : 1),
    );
  }

  /**
   * The entry's removal as of this version of the device: of two writes of one entry going out
   * together, the later version wins, so a device back under a follow-up a moment after leaving it keeps its entry.
   */
  private deleteEntry(partition: string, as: Pick<DeviceRecord, 'serialNumber' | 'eventCount'>): Promise<void> {
    return this.behind.write({ kind: 'delete', partitionKey: partition, rowKey: this.partition(as.serialNumber) }, as.eventCount * 2 + 1);
  }

  private async versioned(record: DeviceRecord, etags: Map<string, string>): Promise<Versioned<DeviceRecord>> {
    const etag = etags.get(DEVICE_ROW);
    if (etag) return { value: record, etag };
    // Some servers omit per-operation ETags in transaction responses: read it back instead.
    const saved = await this.get(record.serialNumber);
    if (!saved) throw new Error(`Device ${record.serialNumber} vanished right after being written`);
    return saved;
  }
}
