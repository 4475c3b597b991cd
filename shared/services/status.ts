import type { BatchRecord } from '../domain/batch.js';
import { ownerOf, type DeviceEvent, type DeviceRecord } from '../domain/device.js';
import { ATTENTION_STATES, type BatchCounts } from '../domain/batch-counts.js';
import type { DeviceState, WaitStep } from '../domain/lifecycle.js';
import { openRequest, type ReprovisionRequest } from '../domain/reprovision.js';
import type { BatchDeviceEntry, BatchDeviceIndex, BatchStore, DeviceStore } from './ports.js';

/**
 * Device and batch status as the service desk and operations see it, shared by the status
 * API and the `ztp` CLI. The hardware hash and the assigned user's UPN never leave through
 * here: the service desk needs to know whether a user is assigned, not who.
 */

/** A service-desk request without who asked (a person). */
export type PublicRequest = Omit<ReprovisionRequest, 'requestedBy'>;

/**
 * The stored record without the hardware hash, the UPN and who asked for a re-provisioning;
 * `owner` is the supplier the device belongs to (undefined while it was only ever in rejected
 * rows); `openRequest` is the request the device is working on (reprovisioning, or stalled on it).
 */
export type PublicDevice = Omit<DeviceRecord, 'hardwareHash' | 'assignedUser' | 'reprovision' | 'ownerId'> & {
  readonly owner: string | undefined;
  readonly userAssigned: boolean;
  readonly reprovision: PublicRequest | undefined;
  readonly openRequest: PublicRequest | undefined;
};

function publicRequest(request: ReprovisionRequest | undefined): PublicRequest | undefined {
  if (request === undefined) return undefined;
  const { requestedBy: _who, ...rest } = request;
  return rest;
}

export function publicDevice(record: DeviceRecord): PublicDevice {
  const { hardwareHash: _hash, assignedUser, reprovision, ownerId: _owner, ...rest } = record;
  return {
    ...rest,
    owner: ownerOf(record),
    userAssigned: assignedUser !== undefined,
    reprovision: publicRequest(reprovision),
    openRequest: publicRequest(openRequest(record)),
  };
}

const SENSITIVE_DETAIL_KEYS = new Set([
  'hardwareHash',
  'hardwareIdentifier',
  'assignedUser',
  'assignedUserPrincipalName',
  'userPrincipalName',
  'requestedBy',
]);

/** Event details are free-form; whatever a writer put there, the hash and the UPN stay out. */
export function publicEvent(event: DeviceEvent): DeviceEvent {
  if (event.detail === undefined) return event;
  const detail = Object.fromEntries(Object.entries(event.detail).filter(([key]) => !SENSITIVE_DETAIL_KEYS.has(key)));
  return { ...event, detail };
}

export interface DeviceStatus {
  readonly device: PublicDevice;
  /** Every history event, oldest first. */
  readonly history: readonly DeviceEvent[];
}

/**
 * What the status API and the CLI read: a batch is its record, its counts row and its listed
 * entries (rejected rows, failed and stalled devices), whatever the file's size; never the
 * devices table.
 */
export interface StatusDeps {
  readonly batches: Pick<BatchStore, 'get'>;
  readonly batchIndex: Pick<BatchDeviceIndex, 'tally' | 'listed'>;
}

/**
 * Undefined for a serial number no file ever brought. The record and its history are one
 * read, so the history shown always ends where the record is, however busy the device.
 */
export async function deviceStatus(
  deps: { readonly devices: Pick<DeviceStore, 'withHistory'> },
  serialNumber: string,
): Promise<DeviceStatus | undefined> {
  const found = await deps.devices.withHistory(serialNumber);
  if (found === undefined) return undefined;
  return { device: publicDevice(found.record.value), history: found.history.map(publicEvent) };
}

export interface BatchReject {
  readonly serialNumber: string;
  readonly line: number;
  readonly state: DeviceState;
  readonly reasons: readonly string[];
  readonly note: string | undefined;
}

export interface BatchSummary {
  readonly batch: BatchRecord;
  /**
   * The devices the file accepted and still has, counted by current state, and each row the
   * file rejected, counted as `rejected`: whether or not it recorded a device (a row without a
   * serial, a repeated serial, another supplier's device, a value the storage refused), and
   * whether or not a later file took its device since (a rejected row never made the device
   * this file's). So `byState.rejected` equals the batch's `counts.rejected`.
   */
  readonly devices: { readonly total: number; readonly byState: Partial<Record<DeviceState, number>> };
  /** Of those, the ones still waiting on a step, by step. */
  readonly waitingFor: Partial<Record<WaitStep, number>>;
  /** Devices the file accepted that a later file has taken since (not counted above). */
  readonly moved: number;
  /** Every rejected row (serial '' for a row without one), and the failed and stalled devices, in file order. */
  readonly rejects: readonly BatchReject[];
}

/** A listed entry as a batch summary sees it: a device's entry, or a rejected row's. */
type ListedEntry = Pick<BatchDeviceEntry, 'serialNumber' | 'line' | 'state' | 'reasons' | 'note' | 'waitingFor' | 'accepted' | 'movedTo'>;

/**
 * The summary from the file's counts (its accepted devices) and its listed entries: a row the
 * file rejected is counted here, once per line; a device that needs attention is only listed
 * (the counts have it).
 */
export async function summariseBatch(
  batch: BatchRecord,
  counts: BatchCounts,
  listed: AsyncIterable<ListedEntry> | Iterable<ListedEntry>,
): Promise<BatchSummary> {
  const byState: Partial<Record<DeviceState, number>> = { ...counts.byState };
  const waitingFor: Partial<Record<WaitStep, number>> = { ...counts.waitingFor };
  const rejects: BatchReject[] = [];
  const rejectedLines = new Set<number>();
  let total = Object.values(byState).reduce((sum, n) => sum + n, 0);
  for await (const device of listed) {
    if (!device.accepted) {
      // A rejected row stays this file's, whatever became of its device. A re-run of the file after a
      // later file took the device writes the row an entry of its own beside its device's: one row.
      if (rejectedLines.has(device.line)) continue;
      rejectedLines.add(device.line);
      total += 1;
      byState[device.state] = (byState[device.state] ?? 0) + 1;
      if (device.waitingFor !== undefined) waitingFor[device.waitingFor] = (waitingFor[device.waitingFor] ?? 0) + 1;
    } else if (device.movedTo !== undefined) continue;
    if (ATTENTION_STATES.has(device.state)) {
      rejects.push({
        serialNumber: device.serialNumber,
        line: device.line,
        state: device.state,
        reasons: [...device.reasons],
        note: device.note,
      });
    }
  }
  rejects.sort((a, b) => a.line - b.line || a.serialNumber.localeCompare(b.serialNumber));
  return { batch, devices: { total, byState }, waitingFor, moved: counts.moved, rejects };
}

/** Undefined for a batch id no file ever had. */
export async function batchSummary(deps: StatusDeps, batchId: string): Promise<BatchSummary | undefined> {
  const found = await deps.batches.get(batchId);
  if (found === undefined) return undefined;
  const { counts } = await deps.batchIndex.tally(batchId);
  return summariseBatch(found.value, counts, deps.batchIndex.listed(batchId));
}
