import type { DeviceRecord } from './device.js';
import { openRequest } from './reprovision.js';
import type { DeviceState, TransitionReason } from './lifecycle.js';

/**
 * What a row of a supplier file does to a device the product already knows. Pure: the
 * intake carries the decision out with one guarded write and, for a re-tag, one message.
 */

/**
 * States a new file may start over from: the device is imported again with the row's data
 * (`deregistered` only when the service desk allowed re-import).
 */
export const RESUBMITTABLE: ReadonlySet<DeviceState> = new Set(['rejected', 'failed', 'deregistered']);

export type AcceptedRowDecision =
  /** The service desk is re-provisioning the device (or its request stalled): the row changes nothing (warning `device-busy`). */
  | { readonly kind: 'busy' }
  /** Deregistered by the service desk without allowing re-import: the row is rejected (`deregistered-device`). */
  | { readonly kind: 'deregistered' }
  /** Recorded by an earlier run of this same file: queue it again (the chunk ids dedupe). */
  | { readonly kind: 'same-file' }
  /** Start over as `received` with the row's data and a new generation. */
  | { readonly kind: 'resubmit'; readonly reason: Extract<TransitionReason, 'group-tag-changed' | 'resubmitted-from-file'> }
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
export function decideAcceptedRow(
  known: DeviceRecord,
  row: { readonly batchId: string; readonly groupTag: string | undefined },
): AcceptedRowDecision {
  // Rows never interrupt the service desk, nor undo a deregistration it did not open up.
  // A request stalled on its deadline is still open (a wipe may yet run): busy until it is re-driven or replaced.
  if (known.state === 'reprovisioning' || openRequest(known) !== undefined) return { kind: 'busy' };
  if (known.state === 'deregistered' && known.reprovision?.allowReimport !== true) return { kind: 'deregistered' };
  if (known.batchId === row.batchId) return { kind: 'same-file' };
  if (RESUBMITTABLE.has(known.state) || known.state === 'received') {
    return { kind: 'resubmit', reason: known.state === 'received' ? 'group-tag-changed' : 'resubmitted-from-file' };
  }
  const wanted = row.groupTag ?? '';
  if (wanted === (known.groupTag ?? '')) {
    return { kind: 'unchanged', resendRetag: known.autopilotGroupTag !== undefined && known.autopilotGroupTag !== wanted };
  }
  const tagPending = wanted !== (known.autopilotGroupTag ?? '');
  return {
    kind: 'retag',
    generation: known.generation + 1,
    watchEnrolled: known.state === 'enrolled' ? (tagPending ? 'start' : 'stop') : undefined,
  };
}

export type RejectedRowDecision =
  /** Leave the device alone: a bad row never downgrades a device further along, nor touches one a repeated row named. */
  | { readonly kind: 'ignore' }
  /** Record the device (new) or the newer file's rejection (known and rejected by another file). */
  | { readonly kind: 'record' };

/**
 * The decision for a row the validation refused. `known` is undefined for a serial seen for
 * the first time; `duplicateInFile` when an earlier row of the same file named the serial.
 */
export function decideRejectedRow(
  known: DeviceRecord | undefined,
  row: { readonly batchId: string; readonly duplicateInFile: boolean },
): RejectedRowDecision {
  if (row.duplicateInFile) return { kind: 'ignore' };
  if (known === undefined) return { kind: 'record' };
  return known.state === 'rejected' && known.batchId !== row.batchId ? { kind: 'record' } : { kind: 'ignore' };
}
