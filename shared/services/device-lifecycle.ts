import { newDevice, transition, type DeviceEvent, type DeviceRecord, type NewDeviceInput, type TransitionInput } from '../domain/device.js';
import type { TransitionReason } from '../domain/lifecycle.js';
import { EVENTS, logTransition } from '../events.js';
import type { Logger } from '../log.js';
import type { BatchDeviceIndex, DeviceStore, Versioned } from './ports.js';

/**
 * The only way a device changes state: validated transition, ETag-guarded save together
 * with its history event, then one lifecycle log line, then the device's entry in its file's
 * index (`BatchDeviceIndex`). Conflicts surface to the caller, which re-reads and decides again.
 *
 * The index is written after the device, and not waited for (it goes out with the entries of
 * the file's other devices moving at the same moment): a failure there is logged
 * (`batch.index-failed`) and never fails the transition, which is already saved; the sweeper repairs the entry before it
 * settles the file. A device taken by a later file gets an entry there; its entry in the
 * earlier file stays, as that file's history of it, marked `movedTo`.
 */

/** What the lifecycle writes: the device, and its file's index when the use case has one. */
export interface LifecycleWrites<D extends Partial<DeviceStore>> {
  readonly devices: D;
  readonly batchIndex?: BatchDeviceIndex | undefined;
}

export async function applyTransition(
  writes: LifecycleWrites<Pick<DeviceStore, 'save'>>,
  log: Logger,
  current: Versioned<DeviceRecord>,
  input: TransitionInput,
): Promise<Versioned<DeviceRecord>> {
  const { record, event } = transition(current.value, input);
  const saved = await writes.devices.save(record, current, event);
  logTransition(log, record, event);
  await indexDevice(writes.batchIndex, log, record, event, current.value);
  return saved;
}

export async function recordNewDevice(
  writes: LifecycleWrites<Pick<DeviceStore, 'create'>>,
  log: Logger,
  input: NewDeviceInput,
  state: 'received' | 'rejected',
  reason: TransitionReason,
  correlationId: string,
  now: Date,
  detail?: Readonly<Record<string, unknown>>,
): Promise<Versioned<DeviceRecord>> {
  const { record, event } = newDevice(input, state, reason, correlationId, now, detail);
  const saved = await writes.devices.create(record, event);
  logTransition(log, record, event);
  await indexDevice(writes.batchIndex, log, record, event, undefined);
  return saved;
}

/** The device's entry in its file, and the mark on the file it left; failures are logged, never thrown. */
export async function indexDevice(
  index: BatchDeviceIndex | undefined,
  log: Logger,
  record: DeviceRecord,
  event: Pick<DeviceEvent, 'reason'>,
  previous: Pick<DeviceRecord, 'batchId' | 'line'> | undefined,
): Promise<void> {
  if (index === undefined || record.batchId === '') return;
  const failed = (error: unknown): void =>
    log.warn(
      { event: EVENTS.batchIndexFailed, serial: record.serialNumber, batchId: record.batchId, eventCount: record.eventCount, err: error },
      `the file's index of ${record.serialNumber} could not be written; the sweeper repairs it`,
    );
  const written = index.record(record.batchId, {
    serialNumber: record.serialNumber,
    line: record.line,
    state: record.state,
    reasons: record.reasons,
    note: record.note,
    waitingFor: record.waitingFor,
    eventCount: record.eventCount,
    // Whether the file accepted the device is decided by the write that brings it into the file.
    ...(previous?.batchId !== record.batchId ? { accepted: event.reason !== 'rejected-from-file' } : {}),
  });
  if (!previous?.batchId || previous.batchId === record.batchId) {
    // Not waited for: it goes out with the entries of the file's other devices moving now.
    written.catch(failed);
    return;
  }
  try {
    await written;
    await index.markMoved(previous.batchId, { serialNumber: record.serialNumber, line: previous.line }, record.batchId);
  } catch (error) {
    failed(error);
  }
}
