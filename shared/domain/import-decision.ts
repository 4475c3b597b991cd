import { interpretImport, type ImportState } from './autopilot-outcomes.js';
import type { DeviceRecord } from './device.js';
import { isPastDeadline } from './waiting.js';

/**
 * What the imported record Autopilot shows (or does not show) means for a device waiting on
 * its import. Pure: the import poll carries the decision out.
 */

export type ImportDecision =
  /** Nothing to do yet. */
  | { readonly kind: 'wait' }
  /** Past the import deadline: stall, with what was last known. */
  | { readonly kind: 'stall' }
  /** Claimed, but Autopilot never saw it and no import call can still be in flight: submit it again as claimed. */
  | { readonly kind: 'resubmit' }
  /** Autopilot asked to try again later (StorageError): submit again under a fresh import id. */
  | { readonly kind: 'retry-import'; readonly code: string }
  /**
   * Registered (complete, or 806: already in this tenant). `lookup`: the Autopilot identity
   * must first be found by serial — after an 806, or when the record names no identity.
   */
  | {
      readonly kind: 'register';
      readonly reason: 'import-complete' | 'already-registered';
      readonly autopilotId: string | undefined;
      readonly lookup: boolean;
      readonly code?: string;
    }
  /** 808 / 802 / any other Autopilot error: failed with a reason the supplier can act on. */
  | {
      readonly kind: 'fail';
      readonly reason: 'owned-by-other-tenant' | 'autopilot-rejected-hash' | 'autopilot-error';
      readonly code: string;
    };

type WaitingDevice = Pick<DeviceRecord, 'state' | 'deadlineAt' | 'waitingSince' | 'updatedAt'>;

/** A waiting device past its deadline stalls; one that already stalled stays as it is. */
export function stallIfLate(device: Pick<DeviceRecord, 'state' | 'deadlineAt'>, now: Date): 'stall' | 'wait' {
  return device.state !== 'stalled' && isPastDeadline(device.deadlineAt, now) ? 'stall' : 'wait';
}

/**
 * `record` is the imported record carrying the device's import id, if the listing had one.
 * `lostIfClaimedBefore`: a claim made before this (the listing's start less the claim grace)
 * had its import call answered before the listing began, so no record means none was made.
 */
export function decideImport(
  device: WaitingDevice,
  record: { readonly state: ImportState } | undefined,
  now: Date,
  lostIfClaimedBefore: Date,
): ImportDecision {
  if (!record) {
    // Claimed but never seen by Autopilot (the import call failed before it arrived). Give an
    // import call in flight time to return before presuming it lost; past the deadline, stall.
    if (isPastDeadline(device.deadlineAt, now)) return { kind: stallIfLate(device, now) };
    const claimedAt = Date.parse(device.waitingSince ?? device.updatedAt);
    return device.state === 'importing' && claimedAt < lostIfClaimedBefore.getTime() ? { kind: 'resubmit' } : { kind: 'wait' };
  }
  const outcome = interpretImport(record.state);
  switch (outcome.kind) {
    case 'pending':
      return { kind: stallIfLate(device, now) };
    case 'registered':
      return { kind: 'register', reason: 'import-complete', autopilotId: outcome.autopilotId, lookup: outcome.autopilotId === undefined };
    case 'already-registered':
      return { kind: 'register', reason: 'already-registered', autopilotId: undefined, lookup: true, code: outcome.code };
    case 'retry':
      // Stalled devices are only watched for a late result; past the deadline, stall.
      if (device.state === 'stalled') return { kind: 'wait' };
      if (isPastDeadline(device.deadlineAt, now)) return { kind: 'stall' };
      return { kind: 'retry-import', code: outcome.code };
    case 'failed':
      return { kind: 'fail', reason: outcome.reason, code: outcome.code };
  }
}
