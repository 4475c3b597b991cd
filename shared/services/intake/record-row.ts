import type { BatchRecord } from '../../domain/batch.js';
import { ownerOf, type DeviceRecord } from '../../domain/device.js';
import type { AcceptedDevice, ValidatedRow } from '../../domain/hash-file/index.js';
import { decideAcceptedRow, decideRejectedRow } from '../../domain/known-device-row.js';
import { reasonText, warningText, type ReasonCode, type WarningCode } from '../../domain/reason-codes.js';
import type { ReportOutcome } from '../../domain/result-report.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import type { RetagPayload } from '../../messages/index.js';
import { applyTransition, recordNewDevice } from '../device-lifecycle.js';
import type { Versioned } from '../ports.js';
import { MAX_CONFLICT_RETRIES, type IntakeDeps } from './deps.js';

/** What a recorded row means for the report and the queues. */
export interface RowOutcome {
  readonly outcome: ReportOutcome;
  /** A reason or warning code decided by the device's state rather than by the row's validation. */
  readonly code?: ReasonCode | WarningCode;
  readonly message?: string;
  /** A serial to import. */
  readonly queue?: string;
  readonly retag?: RetagPayload;
  /**
   * The row's device is recorded under this file at this row's line, so the file's index has
   * its entry; a rejected row without one gets an entry of its own (see record-rows.ts).
   */
  readonly indexed: boolean;
}

export interface RowContext {
  readonly deps: IntakeDeps;
  readonly batch: BatchRecord;
  readonly correlationId: string;
  readonly log: Logger;
}

/** Records one validated row, re-reading and deciding again when another writer got there first. */
export async function recordRow(ctx: RowContext, row: ValidatedRow): Promise<RowOutcome> {
  for (let attempt = 0; ; attempt++) {
    try {
      return row.status === 'accepted' && row.device ? await recordAccepted(ctx, row, row.device) : await recordRejected(ctx, row);
    } catch (error) {
      const raced = error instanceof ConcurrencyConflictError || error instanceof EntityExistsError;
      if (!raced || attempt >= MAX_CONFLICT_RETRIES) throw error;
    }
  }
}

async function recordRejected(ctx: RowContext, row: ValidatedRow): Promise<RowOutcome> {
  const rejected: RowOutcome = { outcome: 'rejected', indexed: false };
  const serialNumber = row.serialNumber;
  if (!serialNumber) return rejected;
  const { deps, batch, correlationId, log } = ctx;
  const decision = {
    batchId: batch.batchId,
    supplierId: batch.supplierId,
    duplicateInFile: row.errors.some((e) => e.code === 'duplicate-in-file'),
  };
  // A duplicate row must not touch the device its first occurrence recorded.
  if (decideRejectedRow(undefined, decision).kind === 'ignore') return rejected;
  const reasons = row.errors.map((e) => e.code);
  const current = await createUnlessKnown(deps.devices, serialNumber, () =>
    recordNewDevice(
      deps,
      log,
      { serialNumber, supplierId: batch.supplierId, batchId: batch.batchId, line: row.line, reasons },
      'rejected',
      'rejected-from-file',
      correlationId,
      deps.now(),
      { reasons },
    ),
  );
  if (!current) return { ...rejected, indexed: true };
  if (decideRejectedRow(current.value, decision).kind === 'record') {
    await applyTransition(deps, log, current, {
      to: 'rejected',
      reason: 'rejected-from-file',
      correlationId,
      now: deps.now(),
      changes: { batchId: batch.batchId, supplierId: batch.supplierId, line: row.line, reasons },
      detail: { reasons },
    });
    return { ...rejected, indexed: true };
  }
  // Left alone: indexed only when an earlier run of this file recorded it from this row.
  return { ...rejected, indexed: recordedFrom(current.value, batch, row) };
}

function recordedFrom(device: DeviceRecord, batch: BatchRecord, row: ValidatedRow): boolean {
  return device.batchId === batch.batchId && device.line === row.line;
}

async function recordAccepted(ctx: RowContext, row: ValidatedRow, device: AcceptedDevice): Promise<RowOutcome> {
  const { deps, batch, correlationId, log } = ctx;
  const data = {
    serialNumber: device.serialNumber,
    supplierId: batch.supplierId,
    batchId: batch.batchId,
    line: row.line,
    groupTag: device.groupTag,
    productKey: device.productKey,
    hardwareHash: device.hardwareHash,
    assignedUser: device.assignedUser,
    manufacturer: device.manufacturer,
    model: device.model,
  };
  const accepted: RowOutcome = { outcome: 'accepted', queue: device.serialNumber, indexed: true };
  const current = await createUnlessKnown(deps.devices, device.serialNumber, () =>
    recordNewDevice(deps, log, data, 'received', 'accepted-from-file', correlationId, deps.now()),
  );
  if (!current) return accepted;
  const known = current.value;
  // Rows that leave the device as it is keep its entry where it is (another file's, or this one's from an earlier run).
  const indexed = recordedFrom(known, batch, row);
  const decision = decideAcceptedRow(known, {
    batchId: batch.batchId,
    supplierId: batch.supplierId,
    groupTag: device.groupTag,
    assignedUser: device.assignedUser,
  });
  switch (decision.kind) {
    case 'busy':
      return { outcome: 'accepted', code: 'device-busy', message: warningText('device-busy'), indexed };
    case 'deregistered':
      return { outcome: 'rejected', code: 'deregistered-device', message: reasonText('deregistered-device'), indexed };
    case 'other-supplier':
      // The supplier is told only that the device is not theirs; operations see whose it is.
      log.warn(
        { event: EVENTS.rowOwnedByOtherSupplier, serial: known.serialNumber, owner: decision.ownerId, line: row.line },
        `${known.serialNumber} belongs to supplier ${decision.ownerId}: the row changed nothing`,
      );
      return { outcome: 'rejected', code: 'owned-by-other-supplier', message: reasonText('owned-by-other-supplier'), indexed };
    case 'same-file':
      return accepted;
    case 'resubmit': {
      const previousOwner = ownerOf(known);
      await applyTransition(deps, log, current, {
        to: 'received',
        reason: decision.reason,
        correlationId,
        now: deps.now(),
        changes: {
          ...data,
          ownerId: decision.ownerId,
          groupTag: decision.groupTag,
          assignedUser: decision.assignedUser,
          generation: known.generation + 1,
          reasons: [],
          note: undefined,
        },
        detail: {
          previousBatchId: known.batchId,
          previousState: known.state,
          ...(previousOwner !== decision.ownerId ? { owner: decision.ownerId, previousOwner: previousOwner ?? null } : {}),
        },
      });
      return accepted;
    }
    case 'unchanged':
      return {
        outcome: 'unchanged',
        message: `already known (state ${known.state}); nothing to change`,
        indexed,
        ...(decision.resendRetag ? { retag: { serialNumber: known.serialNumber, generation: known.generation } } : {}),
      };
    case 'retag': {
      // The device keeps the file that registered it; the re-tag is in its history.
      const watch =
        decision.watchEnrolled === undefined
          ? {}
          : decision.watchEnrolled === 'start'
            ? { waitingFor: 'group-tag' as const, waitingSince: deps.now().toISOString() }
            : { waitingFor: undefined, waitingSince: undefined };
      await applyTransition(deps, log, current, {
        to: known.state,
        reason: 'group-tag-changed',
        correlationId,
        now: deps.now(),
        changes: { groupTag: device.groupTag, generation: decision.generation, ...watch },
        detail: {
          previousGroupTag: known.groupTag ?? null,
          groupTag: device.groupTag ?? null,
          retagBatchId: batch.batchId,
          line: row.line,
        },
      });
      return {
        outcome: 'updated',
        message: `already known (state ${known.state}); group tag changes from "${known.groupTag ?? ''}" to "${device.groupTag ?? ''}"`,
        indexed,
        retag: { serialNumber: device.serialNumber, generation: decision.generation },
      };
    }
  }
}

/**
 * Nearly every row of a delivery is a device seen for the first time, so the insert is tried
 * first and the record read only when it already exists: one Table Storage round trip per
 * new device instead of two. Undefined when this call created the device.
 */
async function createUnlessKnown(
  devices: IntakeDeps['devices'],
  serialNumber: string,
  create: () => Promise<unknown>,
): Promise<Versioned<DeviceRecord> | undefined> {
  try {
    await create();
    return undefined;
  } catch (error) {
    if (!(error instanceof EntityExistsError)) throw error;
  }
  const current = await devices.get(serialNumber);
  // Gone again between the two calls: recordRow starts the row over.
  if (!current) throw new ConcurrencyConflictError('devices', serialNumber, 'device');
  return current;
}
