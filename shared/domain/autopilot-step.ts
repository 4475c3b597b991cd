import { isEnrolled, isProfileAssigned, isProfileAssignmentFailed } from './autopilot-outcomes.js';
import type { AutopilotIdentity } from './autopilot.js';
import type { DeviceRecord } from './device.js';
import type { DeviceState } from './lifecycle.js';
import { stallIfLate } from './import-decision.js';

/**
 * What a registered device's Autopilot identity means for it: the next step towards
 * enrolment. Pure; the Autopilot poll carries each step out and asks again with the saved
 * record until a step ends the device's turn (`wait`, `stall`, `enrolled`, a re-tag recorded,
 * or an enrolled device no longer watched).
 */

export const PROFILE_FAILED_NOTE =
  'Autopilot reports that assigning a deployment profile failed: check the profile and the groups it is assigned to';

export type AutopilotStep =
  /** Autopilot's tag differs from the one the device should carry: set it (then record the re-tag). */
  | { readonly kind: 'set-tag'; readonly groupTag: string }
  /** Autopilot has the tag but the record does not say so (the update went through, the save did not). */
  | { readonly kind: 'record-retag'; readonly groupTag: string }
  /** An enrolled device watched for a new tag that cannot or need not be applied: stop watching it. */
  | { readonly kind: 'stop-watching'; readonly why: string }
  /** Said once, on the record and in the log; the device keeps waiting, as a fix in Intune still counts. */
  | { readonly kind: 'note-profile-failed' }
  /** The re-tag has visibly taken effect (no profile assigned now): the next assignment is the new one. */
  | { readonly kind: 'clear-baseline' }
  | { readonly kind: 'profile-assigned' }
  | { readonly kind: 'enrolled' }
  | { readonly kind: 'stall' }
  | { readonly kind: 'wait' };

/** The steps after which the poll moves on to the next device; the others change what the next decision sees. */
export function endsTurn(step: AutopilotStep): boolean {
  return step.kind !== 'note-profile-failed' && step.kind !== 'clear-baseline' && step.kind !== 'profile-assigned';
}

/**
 * `identity` is undefined when Autopilot no longer has the device. `retagSettleMs`: after a
 * re-tag, how long an unchanged profile assignment must hold to count for the new tag.
 */
export function nextAutopilotStep(
  device: DeviceRecord,
  identity: AutopilotIdentity | undefined,
  now: Date,
  policy: { readonly retagSettleMs: number },
): AutopilotStep {
  if (!identity) {
    if (device.state === 'enrolled') return { kind: 'stop-watching', why: 'the device is no longer in Autopilot' };
    return { kind: stallIfLate(device, now) };
  }
  // A record without a tag wants none in particular: the tag Autopilot has stands.
  const wanted = device.groupTag;
  if (wanted !== undefined) {
    if ((identity.groupTag ?? '') !== wanted) return { kind: 'set-tag', groupTag: wanted };
    if ((device.autopilotGroupTag ?? '') !== wanted) return { kind: 'record-retag', groupTag: wanted };
  }
  if (device.state === 'enrolled') return { kind: 'stop-watching', why: 'Autopilot already has the group tag' };

  const assigned = isProfileAssigned(identity.deploymentProfileAssignmentStatus);
  if (isProfileAssignmentFailed(identity.deploymentProfileAssignmentStatus) && device.note !== PROFILE_FAILED_NOTE) {
    return { kind: 'note-profile-failed' };
  }
  if (device.profileBaseline !== undefined && !assigned) return { kind: 'clear-baseline' };
  const waitingForProfile = device.state === 'registered' || device.waitingFor === 'profile-assignment';
  if (waitingForProfile && assigned && isFreshAssignment(device, identity, now, policy.retagSettleMs)) return { kind: 'profile-assigned' };
  const waitingForEnrolment = device.state === 'profile-assigned' || device.waitingFor === 'enrolment';
  if (waitingForEnrolment && isEnrolled(identity.enrollmentState)) return { kind: 'enrolled' };
  return { kind: stallIfLate(device, now) };
}

/**
 * After a re-tag the profile counts as assigned for the new tag only once Autopilot shows a
 * new assignment time — or, when the new tag maps to the same profile (nothing changes), once
 * the assignment has held for the settle time.
 */
function isFreshAssignment(device: DeviceRecord, identity: AutopilotIdentity, now: Date, retagSettleMs: number): boolean {
  if (device.profileBaseline === undefined) return true;
  if ((identity.deploymentProfileAssignedDateTime ?? 'none') !== device.profileBaseline) return true;
  const since = Date.parse(device.waitingSince ?? device.updatedAt);
  return now.getTime() - since >= retagSettleMs;
}

/**
 * Whether Autopilot has yet to get the record's group tag. A record without a tag has none to
 * give: an absent value never clears the tag Autopilot has.
 */
export function isTagPending(device: Pick<DeviceRecord, 'groupTag' | 'autopilotGroupTag'>): boolean {
  return device.groupTag !== undefined && device.groupTag !== (device.autopilotGroupTag ?? '');
}

/** Where a re-tag takes a device: back to waiting for its profile, from wherever it was. */
export function stateAfterRetag(state: DeviceState): DeviceState {
  return state === 'stalled' || state === 'profile-assigned' || state === 'enrolled' ? 'registered' : state;
}
