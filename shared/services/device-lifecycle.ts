import { newDevice, transition, type DeviceRecord, type NewDeviceInput, type TransitionInput } from '../domain/device.js';
import type { TransitionReason } from '../domain/lifecycle.js';
import { logTransition } from '../events.js';
import type { Logger } from '../log.js';
import type { DeviceStore, Versioned } from './ports.js';

/**
 * The only way a device changes state: validated transition, ETag-guarded save together
 * with its history event, then one lifecycle log line. Conflicts surface to the caller,
 * which re-reads and decides again.
 */

type DeviceWrites = Pick<DeviceStore, 'create' | 'save'>;

export async function applyTransition(
  devices: Pick<DeviceStore, 'save'>,
  log: Logger,
  current: Versioned<DeviceRecord>,
  input: TransitionInput,
): Promise<Versioned<DeviceRecord>> {
  const { record, event } = transition(current.value, input);
  const saved = await devices.save(record, current.etag, event);
  logTransition(log, record, event);
  return saved;
}

export async function recordNewDevice(
  devices: DeviceWrites,
  log: Logger,
  input: NewDeviceInput,
  state: 'received' | 'rejected',
  reason: TransitionReason,
  correlationId: string,
  now: Date,
  detail?: Readonly<Record<string, unknown>>,
): Promise<Versioned<DeviceRecord>> {
  const { record, event } = newDevice(input, state, reason, correlationId, now, detail);
  const saved = await devices.create(record, event);
  logTransition(log, record, event);
  return saved;
}
