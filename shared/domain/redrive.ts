import { interpretImport, type ImportState } from './autopilot-outcomes.js';
import type { AutopilotIdentity } from './autopilot.js';
import type { DeviceRecord } from './device.js';
import type { DeviceState, WaitStep } from './lifecycle.js';
import type { ReprovisionRequest, ReprovisionStage } from './reprovision-request.js';

/**
 * What re-driving a device does: a `stalled` device's step restarts with a fresh deadline. Pure:
 * the re-drive use case reads what a decision needs (for a device stalled on its import, what
 * Autopilot shows of it), carries the decision out with one guarded transition (reason
 * `redriven`) and hands the device to the step's worker or poll. A device that is not stalled is
 * left alone, so a re-drive asked for twice does it once.
 */

export type RedrivePlan =
  | { readonly kind: 'not-stalled' }
  /**
   * Stalled on its import, or never known to be in Autopilot: Autopilot is asked first (the
   * imported record by import id, then the identity by serial), and `decideImportRedrive`
   * says what its answer means. So a re-drive never submits a device Autopilot already has.
   */
  | { readonly kind: 'check-autopilot' }
  /** Waiting on Autopilot's group tag, profile or enrolment: back to that wait; the Autopilot poll follows it. */
  | {
      readonly kind: 'resume-autopilot';
      readonly to: Extract<DeviceState, 'registered' | 'profile-assigned'>;
      readonly waitingFor: Extract<WaitStep, 'group-tag' | 'profile-assignment' | 'enrolment'>;
    }
  /**
   * A service-desk request that did not take effect in time: back to `reprovisioning` at the
   * stage it stalled in. Before its Graph call was answered the worker carries it on (it looks
   * at the device before sending anything again); after, the re-provisioning poll follows it.
   */
  | { readonly kind: 'resume-request'; readonly stage: ReprovisionStage; readonly follow: 'worker' | 'poll' };

export function planRedrive(device: DeviceRecord): RedrivePlan {
  if (device.state !== 'stalled') return { kind: 'not-stalled' };
  const step = device.waitingFor;
  if (step === 'reprovision' && device.reprovision) {
    const stage = stageToResume(device.reprovision);
    return { kind: 'resume-request', stage, follow: stage === 'accepted' || stage === 'sending' ? 'worker' : 'poll' };
  }
  // The Autopilot poll reads a device by its Autopilot id: one without it is looked for in Autopilot instead.
  if (device.autopilotId !== undefined) {
    if (step === 'enrolment') return { kind: 'resume-autopilot', to: 'profile-assigned', waitingFor: 'enrolment' };
    if (step === 'group-tag' || step === 'profile-assignment') return { kind: 'resume-autopilot', to: 'registered', waitingFor: step };
  }
  return { kind: 'check-autopilot' };
}

/**
 * The stage a stalled request resumes at: the one it stalled in. Requests that stalled before
 * that was recorded are read from what they carry: an answered call (`sentAt`), an action about
 * to be sent (`actionBaseline`: the worker looks at the device before sending again), or nothing yet.
 */
export function stageToResume(request: ReprovisionRequest): ReprovisionStage {
  const recorded = request.stalledStage;
  if (recorded !== undefined && RESUMABLE.has(recorded)) return recorded;
  if (request.sentAt !== undefined) return 'sent';
  if (request.actionBaseline !== undefined) return 'sending';
  return 'accepted';
}

const RESUMABLE: ReadonlySet<ReprovisionStage> = new Set(['accepted', 'sending', 'sent', 'managed-device-deleted']);

export type ImportRedrive =
  /** The imported record (or its absence) does not settle it: ask Autopilot for the serial number. */
  | { readonly kind: 'find-by-serial' }
  /** Autopilot has the device: registered, as the import poll would have had it (an 806 reconciled). */
  | {
      readonly kind: 'register';
      readonly outcome: 'import-complete' | 'already-registered';
      readonly autopilotId: string;
      readonly code?: string;
    }
  /** Autopilot is still importing it, or shows the import finished but not yet the identity: back to `importing`. */
  | { readonly kind: 'wait'; readonly outcome: 'import-pending' | 'identity-not-found' }
  /** Autopilot never saw it (or asked for the import again): back to `received`, submitted under a fresh import id. */
  | { readonly kind: 'resubmit'; readonly outcome: 'not-in-autopilot' | 'import-retry'; readonly code?: string }
  /** Autopilot refused it for good (808, 802, ...). */
  | {
      readonly kind: 'fail';
      readonly outcome: 'owned-by-other-tenant' | 'autopilot-rejected-hash' | 'autopilot-error';
      readonly code: string;
    };

/**
 * For a device stalled on its import: what Autopilot shows of it. `record` is the imported
 * record carrying the device's import id, if the listing had one. `identity` is the Autopilot
 * identity found by serial: `undefined` when not looked up yet, `null` when Autopilot has none.
 */
export function decideImportRedrive(
  record: { readonly state: ImportState } | undefined,
  identity: Pick<AutopilotIdentity, 'id'> | null | undefined,
): ImportRedrive {
  if (record) {
    const outcome = interpretImport(record.state);
    switch (outcome.kind) {
      case 'pending':
        return { kind: 'wait', outcome: 'import-pending' };
      case 'registered':
        if (outcome.autopilotId !== undefined) return { kind: 'register', outcome: 'import-complete', autopilotId: outcome.autopilotId };
        return byIdentity(identity, 'import-complete');
      case 'already-registered':
        return byIdentity(identity, 'already-registered', outcome.code);
      case 'retry':
        // Autopilot failed that import (StorageError); whether it has the device some other way, the serial says.
        if (identity === undefined) return { kind: 'find-by-serial' };
        if (identity !== null) return { kind: 'register', outcome: 'already-registered', autopilotId: identity.id };
        return { kind: 'resubmit', outcome: 'import-retry', code: outcome.code };
      case 'failed':
        return { kind: 'fail', outcome: outcome.reason, code: outcome.code };
    }
  }
  if (identity === undefined) return { kind: 'find-by-serial' };
  // In Autopilot without a record of ours (cleaned up, or registered before its file came): an 806, reconciled.
  if (identity !== null) return { kind: 'register', outcome: 'already-registered', autopilotId: identity.id };
  return { kind: 'resubmit', outcome: 'not-in-autopilot' };
}

/** The record says Autopilot has the device: its identity, once found, is the one registered. */
function byIdentity(
  identity: Pick<AutopilotIdentity, 'id'> | null | undefined,
  outcome: 'import-complete' | 'already-registered',
  code?: string,
): ImportRedrive {
  if (identity === undefined) return { kind: 'find-by-serial' };
  if (identity === null) return { kind: 'wait', outcome: 'identity-not-found' };
  return { kind: 'register', outcome, autopilotId: identity.id, ...(code !== undefined ? { code } : {}) };
}
