import type { StorageAccess } from '../storage-access.js';
import type { DeviceEvent, DeviceRecord } from '../../domain/device.js';
import { serialKey } from '../../domain/device.js';
import { isDeviceState, type DeviceState } from '../../domain/lifecycle.js';
import type { ReprovisionRequest } from '../../domain/reprovision-request.js';
import type { DeviceStore, DeviceWithHistory, StateClause, Versioned } from '../../services/ports.js';
import { odataString, TableStore, toKey, type EntityProps, type WriteOp } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * Devices and their histories share one partition per serial number, so a transition
 * (record update guarded by ETag + history event insert) is one atomic transaction.
 * Row keys: `device` for the record, `event-000001`… for the history in order.
 */

const DEVICE_ROW = 'device';
const eventRow = (sequence: number): string => `event-${String(sequence).padStart(6, '0')}`;

type Row = EntityProps;

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
    reprovision: typeof row.reprovision === 'string' ? (JSON.parse(row.reprovision) as ReprovisionRequest) : undefined,
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
  constructor(private readonly store: TableStore<Row>) {}

  static connect(storage: StorageAccess | string, tableName: string = TABLES.devices): DeviceRepository {
    return new DeviceRepository(TableStore.connect<Row>(storage, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
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
    const etags = await this.store.transact([
      { kind: 'insert', partitionKey: pk, rowKey: DEVICE_ROW, value: toDeviceRow(record) },
      { kind: 'insert', partitionKey: pk, rowKey: eventRow(event.sequence), value: toEventRow(event, record.serialNumber) },
    ]);
    return this.versioned(record, etags);
  }

  /**
   * Saves a new version of the record, guarded by the ETag it was read with, together with
   * its history event when there is one. ConcurrencyConflictError when the record moved on.
   */
  async save(next: DeviceRecord, etag: string, event?: DeviceEvent): Promise<Versioned<DeviceRecord>> {
    const pk = this.partition(next.serialNumber);
    const ops: WriteOp<Row>[] = [{ kind: 'update', partitionKey: pk, rowKey: DEVICE_ROW, value: toDeviceRow(next), etag }];
    if (event)
      ops.push({ kind: 'insert', partitionKey: pk, rowKey: eventRow(event.sequence), value: toEventRow(event, next.serialNumber) });
    return this.versioned(next, await this.store.transact(ops));
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

  /** Every device in the given states (a filtered scan; Table Storage has no secondary index). */
  inStates(states: readonly DeviceState[]): AsyncGenerator<Versioned<DeviceRecord>> {
    return this.matching(states.map((state) => ({ state })));
  }

  /**
   * Every device matching any of the clauses, filtered by the service: a poll that watches
   * waiting devices never reads the settled fleet.
   */
  async *matching(clauses: readonly StateClause[]): AsyncGenerator<Versioned<DeviceRecord>> {
    const filter = clauses
      .map(({ state, waitingFor, batchId }) => {
        const parts = [`state eq ${odataString(state)}`];
        if (waitingFor?.length) parts.push(`(${waitingFor.map((step) => `waitingFor eq ${odataString(step)}`).join(' or ')})`);
        if (batchId !== undefined) parts.push(`batchId eq ${odataString(batchId)}`);
        return parts.length === 1 ? parts[0] : `(${parts.join(' and ')})`;
      })
      .join(' or ');
    for await (const row of this.store.query(`RowKey eq '${DEVICE_ROW}' and (${filter})`)) {
      yield { value: fromDeviceRow(row.value), etag: row.etag };
    }
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
