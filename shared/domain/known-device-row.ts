import { ownerOf, type DeviceRecord } from './device.js';
import { openRequest } from './reprovision.js';
import type { DeviceState, TransitionReason } from './lifecycle.js';

/**
 * What a row of a supplier file does to a device the product already knows: who may change
 * it, and how. Pure: the intake carries the decision out with one guarded write and, for a
 * re-tag, one message.
 *
 * Ownership: a device belongs to the supplier whose file first had an accepted row for it
 * (`ownerOf`). Another supplier's rows for it change nothing; only a deregistration by the
 * service desk that allowed re-import opens it to any supplier, which then owns it. Rows never
 * interrupt the service desk, whoever sent them. Nothing a row lacks is taken away: a row
 * without a group tag or an assigned user keeps the ones recorded.
 */

/**
 * States a new file may start over from: the device is imported again with the row's data
 * (`deregistered` only when the service desk allowed re-import).
 */
export const RESUBMITTABLE: ReadonlySet<DeviceState> = new Set(['rejected', 'failed', 'deregistered']);

/** What the decisions need of a valid row. */
export interface KnownDeviceRow {
  readonly batchId: string;
  /** The supplier whose file the row is in. */
  readonly supplierId: string;
  /** The row's tag, or the supplier's default; undefined when it has neither. */
  readonly groupTag: string | undefined;
  readonly assignedUser: string | undefined;
}

export type AcceptedRowDecision =
  /** The service desk is re-provisioning the device (or its request stalled): the row changes nothing (warning `device-busy`). */
  | { readonly kind: 'busy' }
  /** Deregistered by the service desk without allowing re-import: the row is rejected (`deregistered-device`). */
  | { readonly kind: 'deregistered' }
  /** The device belongs to another supplier: the row is rejected (`owned-by-other-supplier`) and changes nothing. */
  | { readonly kind: 'other-supplier'; readonly ownerId: string }
  /** Recorded by an earlier run of this same file: queue it again (the chunk ids dedupe). */
  | { readonly kind: 'same-file' }
  /**
   * Start over as `received` with the row's data and a new generation. `ownerId` is the
   * row's supplier (the first accepted row, or a re-import the service desk allowed, makes it
   * the owner); `groupTag` and `assignedUser` are the row's, or, where the row has none and
   * the device stays with its owner, the recorded ones.
   */
  | {
      readonly kind: 'resubmit';
      readonly reason: Extract<TransitionReason, 'group-tag-changed' | 'resubmitted-from-file'>;
      readonly ownerId: string;
      readonly groupTag: string | undefined;
      readonly assignedUser: string | undefined;
    }
  /**
   * Nothing to change. `resendRetag`: Autopilot still lags behind the recorded tag, so the
   * re-tag is sent again (same id, deduplicated) — covers a crash between recording a new
   * tag and queueing its re-tag.
   */
  | { readonly kind: 'unchanged'; readonly resendRetag: boolean }
  /**
   * A new group tag for a device that is (or is being) registered: the device keeps its state
   * and the file that registered it, gets the new tag and a new generation, and a re-tag is
   * queued. An enrolled device is watched again until Autopilot has the tag.
   */
  | { readonly kind: 'retag'; readonly generation: number; readonly watchEnrolled: 'start' | 'stop' | undefined };

/** The decision for a valid row naming a known device. */
export function decideAcceptedRow(known: DeviceRecord, row: KnownDeviceRow): AcceptedRowDecision {
  // Rows never interrupt the service desk, nor undo a deregistration it did not open up.
  // A request stalled on its deadline is still open (a wipe may yet run): busy until it is re-driven or replaced.
  if (known.state === 'reprovisioning' || openRequest(known) !== undefined) return { kind: 'busy' };
  if (known.state === 'deregistered' && known.reprovision?.allowReimport !== true) return { kind: 'deregistered' };
  // Deregistered with re-import allowed: open to any supplier. Otherwise only the owner's rows count.
  const owner = ownerOf(known);
  if (known.state !== 'deregistered' && owner !== undefined && owner !== row.supplierId) return { kind: 'other-supplier', ownerId: owner };
  if (known.batchId === row.batchId) return { kind: 'same-file' };
  if (RESUBMITTABLE.has(known.state) || known.state === 'received') {
    // A new owner's row describes the device afresh: its tag fence holds, and nothing of the previous owner's rows carries over.
    const keep = owner === row.supplierId ? known : undefined;
    return {
      kind: 'resubmit',
      reason: known.state === 'received' ? 'group-tag-changed' : 'resubmitted-from-file',
      ownerId: row.supplierId,
      groupTag: row.groupTag ?? keep?.groupTag,
      assignedUser: row.assignedUser ?? keep?.assignedUser,
    };
  }
  // A row without a tag wants the one recorded.
  if (row.groupTag === undefined || row.groupTag === known.groupTag) {
    const lagging = known.groupTag !== undefined && known.autopilotGroupTag !== undefined && known.autopilotGroupTag !== known.groupTag;
    return { kind: 'unchanged', resendRetag: lagging };
  }
  const tagPending = row.groupTag !== (known.autopilotGroupTag ?? '');
  return {
    kind: 'retag',
    generation: known.generation + 1,
    watchEnrolled: known.state === 'enrolled' ? (tagPending ? 'start' : 'stop') : undefined,
  };
}

export type RejectedRowDecision =
  /** Leave the device alone: a bad row never downgrades a device further along, nor touches one a repeated row named, nor another supplier's. */
  | { readonly kind: 'ignore' }
  /** Record the device (new) or the newer file's rejection (known and rejected by another file). */
  | { readonly kind: 'record' };

/**
 * The decision for a row the validation refused. `known` is undefined for a serial seen for
 * the first time; `duplicateInFile` when an earlier row of the same file named the serial.
 */
export function decideRejectedRow(
  known: DeviceRecord | undefined,
  row: { readonly batchId: string; readonly supplierId: string; readonly duplicateInFile: boolean },
): RejectedRowDecision {
  if (row.duplicateInFile) return { kind: 'ignore' };
  if (known === undefined) return { kind: 'record' };
  const owner = ownerOf(known);
  if (owner !== undefined && owner !== row.supplierId) return { kind: 'ignore' };
  return known.state === 'rejected' && known.batchId !== row.batchId ? { kind: 'record' } : { kind: 'ignore' };
}
