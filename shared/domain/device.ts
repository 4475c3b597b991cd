import { IllegalTransitionError } from '../errors.js';
import { canTransition, type DeviceState, type TransitionReason, type WaitStep } from './lifecycle.js';
import type { ReprovisionRequest } from './reprovision-request.js';

/** A device as the product knows it: one per serial number. */
export interface DeviceRecord {
  readonly serialNumber: string;
  readonly state: DeviceState;
  /** Bumped by every deliberate restart (new group tag, service-desk request); stale work compares it. */
  readonly generation: number;
  /** The supplier of the file the record came from (`batchId`); not necessarily the owner. */
  readonly supplierId: string;
  /**
   * The supplier the device belongs to: the one whose file first had an accepted row for it.
   * Undefined while the serial was only ever in rejected rows. Read it through `ownerOf`.
   */
  readonly ownerId: string | undefined;
  readonly batchId: string;
  readonly line: number;
  /** The group tag the device should carry in Autopilot. */
  readonly groupTag: string | undefined;
  /** The group tag Autopilot was last seen or set to carry. */
  readonly autopilotGroupTag: string | undefined;
  readonly productKey: string | undefined;
  readonly hardwareHash: string | undefined;
  readonly assignedUser: string | undefined;
  readonly manufacturer: string | undefined;
  readonly model: string | undefined;
  /** Reason codes of the latest rejection or failure. */
  readonly reasons: readonly string[];
  readonly importId: string | undefined;
  readonly importedIdentityId: string | undefined;
  readonly autopilotId: string | undefined;
  readonly managedDeviceId: string | undefined;
  /** What a waiting state waits for, since when, and until when. */
  readonly waitingFor: WaitStep | undefined;
  readonly waitingSince: string | undefined;
  readonly deadlineAt: string | undefined;
  readonly pollAttempt: number;
  /**
   * The profile-assignment time Autopilot showed when the group tag was last set: a profile
   * only counts as assigned for the current tag once that time changes.
   */
  readonly profileBaseline: string | undefined;
  readonly note: string | undefined;
  /** The latest service-desk request: open while the device is `reprovisioning` (or stalled on it), kept afterwards. */
  readonly reprovision: ReprovisionRequest | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly eventCount: number;
}

/** One entry of a device's history. */
export interface DeviceEvent {
  readonly sequence: number;
  readonly at: string;
  readonly from: DeviceState | undefined;
  readonly to: DeviceState;
  readonly reason: TransitionReason;
  readonly correlationId: string;
  readonly generation: number;
  readonly batchId: string | undefined;
  readonly detail: Readonly<Record<string, unknown>> | undefined;
}

export interface TransitionInput {
  readonly to: DeviceState;
  readonly reason: TransitionReason;
  readonly correlationId: string;
  readonly now: Date;
  /** Field changes that travel with the transition. */
  readonly changes?: Partial<Omit<DeviceRecord, 'serialNumber' | 'state' | 'eventCount' | 'createdAt' | 'updatedAt'>>;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** The next record and the history event for a transition; throws IllegalTransitionError. */
export function transition(current: DeviceRecord, input: TransitionInput): { record: DeviceRecord; event: DeviceEvent } {
  if (!canTransition(current.state, input.to)) throw new IllegalTransitionError(current.serialNumber, current.state, input.to);
  const at = input.now.toISOString();
  const record: DeviceRecord = {
    ...current,
    ...input.changes,
    state: input.to,
    updatedAt: at,
    eventCount: current.eventCount + 1,
  };
  const event: DeviceEvent = {
    sequence: record.eventCount,
    at,
    from: current.state,
    to: input.to,
    reason: input.reason,
    correlationId: input.correlationId,
    generation: record.generation,
    batchId: record.batchId,
    detail: input.detail,
  };
  return { record, event };
}

export type NewDeviceInput = Pick<DeviceRecord, 'serialNumber' | 'supplierId' | 'batchId' | 'line'> &
  Partial<Pick<DeviceRecord, 'groupTag' | 'productKey' | 'hardwareHash' | 'assignedUser' | 'manufacturer' | 'model' | 'reasons'>>;

/** The first record and event of a device seen for the first time. */
export function newDevice(
  input: NewDeviceInput,
  state: 'received' | 'rejected',
  reason: TransitionReason,
  correlationId: string,
  now: Date,
  detail?: Readonly<Record<string, unknown>>,
): { record: DeviceRecord; event: DeviceEvent } {
  if (!canTransition(undefined, state)) throw new IllegalTransitionError(input.serialNumber, undefined, state);
  const at = now.toISOString();
  const record: DeviceRecord = {
    serialNumber: input.serialNumber,
    state,
    generation: 1,
    supplierId: input.supplierId,
    // An accepted row makes its supplier the owner; a rejected one makes nobody the owner.
    ownerId: state === 'received' ? input.supplierId : undefined,
    batchId: input.batchId,
    line: input.line,
    groupTag: input.groupTag,
    autopilotGroupTag: undefined,
    productKey: input.productKey,
    hardwareHash: input.hardwareHash,
    assignedUser: input.assignedUser,
    manufacturer: input.manufacturer,
    model: input.model,
    reasons: input.reasons ?? [],
    importId: undefined,
    importedIdentityId: undefined,
    autopilotId: undefined,
    managedDeviceId: undefined,
    waitingFor: undefined,
    waitingSince: undefined,
    deadlineAt: undefined,
    pollAttempt: 0,
    profileBaseline: undefined,
    note: undefined,
    reprovision: undefined,
    createdAt: at,
    updatedAt: at,
    eventCount: 1,
  };
  const event: DeviceEvent = {
    sequence: 1,
    at,
    from: undefined,
    to: state,
    reason,
    correlationId,
    generation: 1,
    batchId: input.batchId,
    detail,
  };
  return { record, event };
}

/**
 * The supplier a device belongs to. Records written before owners were recorded have no
 * `ownerId`: a device that was ever accepted (any state but `rejected`, which only rows that
 * failed validation lead to) then belongs to the supplier it was last accepted from, its
 * `supplierId`; a rejected one to nobody yet.
 */
export function ownerOf(device: Pick<DeviceRecord, 'ownerId' | 'state' | 'supplierId'>): string | undefined {
  if (device.ownerId !== undefined) return device.ownerId;
  return device.state === 'rejected' || device.supplierId === '' ? undefined : device.supplierId;
}

/**
 * Serial numbers are compared as Autopilot does: trimmed, case-insensitive — in the file's
 * duplicate and hash cross-checks, in table keys and in message ids alike.
 */
export function serialKey(serialNumber: string): string {
  return serialNumber.trim().toUpperCase();
}
