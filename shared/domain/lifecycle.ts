/**
 * The device lifecycle: canonical states (product contract) and the transitions allowed
 * between them. Pure: callers persist the result with an ETag-guarded write.
 *
 * Two rules keep at-least-once delivery harmless:
 * - only the transitions listed here are legal, so a late or repeated message that would
 *   move a device backwards is refused;
 * - deliberate restarts (a new file with a new group tag, a service-desk request) bump the
 *   device's `generation`; work queued for an older generation is stale and ignored.
 */

export const DEVICE_STATES = [
  'received',
  'rejected',
  'importing',
  'registered',
  'profile-assigned',
  'enrolled',
  'reprovisioning',
  'deregistered',
  'failed',
  'stalled',
] as const;

export type DeviceState = (typeof DEVICE_STATES)[number];

/** Why a device changed state; stable strings used in history events and logs. */
export type TransitionReason =
  | 'accepted-from-file'
  | 'rejected-from-file'
  | 'resubmitted-from-file'
  | 'import-submitted'
  | 'import-complete'
  | 'already-registered'
  | 'group-tag-changed'
  | 'profile-assigned'
  | 'enrolled'
  | 'owned-by-other-tenant'
  | 'autopilot-rejected-hash'
  | 'autopilot-error'
  | 'deadline-passed'
  | 'reprovision-requested'
  | 'reprovision-complete'
  | 'deregistered'
  | 'reprovision-failed'
  | 'redriven';

const ALLOWED: Readonly<Record<DeviceState, readonly DeviceState[]>> = {
  received: ['importing', 'rejected', 'failed'],
  rejected: ['received'],
  importing: ['registered', 'failed', 'stalled'],
  registered: ['profile-assigned', 'failed', 'stalled', 'reprovisioning'],
  'profile-assigned': ['enrolled', 'registered', 'failed', 'stalled', 'reprovisioning'],
  enrolled: ['reprovisioning', 'registered'],
  reprovisioning: ['registered', 'profile-assigned', 'enrolled', 'deregistered', 'failed', 'stalled'],
  deregistered: ['received'],
  failed: ['received', 'importing', 'registered', 'reprovisioning'],
  stalled: ['importing', 'registered', 'profile-assigned', 'enrolled', 'failed', 'received', 'reprovisioning'],
};

/** States that end provisioning: nothing is scheduled for them unless someone asks. */
export const SETTLED_STATES: ReadonlySet<DeviceState> = new Set(['rejected', 'enrolled', 'deregistered', 'failed']);

export function isDeviceState(value: string): value is DeviceState {
  return (DEVICE_STATES as readonly string[]).includes(value);
}

/**
 * Staying in the same state is always allowed: it records a change (new group tag, new
 * reasons) without moving the device anywhere.
 */
export function canTransition(from: DeviceState | undefined, to: DeviceState): boolean {
  if (from === undefined) return to === 'received' || to === 'rejected';
  return from === to || ALLOWED[from].includes(to);
}

export function allowedTransitions(from: DeviceState): readonly DeviceState[] {
  return ALLOWED[from];
}

/** The provisioning step a waiting state is waiting on; recorded when a device stalls. */
export type WaitStep = 'import' | 'group-tag' | 'profile-assignment' | 'enrolment' | 'reprovision';

/** What the service desk can ask for (product contract: the re-provisioning webhook). */
export const REPROVISION_ACTIONS = ['autopilot-reset', 'wipe', 'fresh-start', 'retag', 'deregister'] as const;
export type ReprovisionAction = (typeof REPROVISION_ACTIONS)[number];

/**
 * The states each action may start from. Every action leads through `reprovisioning` and ends
 * in `enrolled`, `profile-assigned` (a re-tag of a device not yet enrolled) or `deregistered`;
 * a permanent refusal returns the device to the state it came from. While a device is
 * `received`, `importing`, `rejected`, `reprovisioning` or `deregistered`, nothing may be asked.
 */
export const REPROVISION_ALLOWED_FROM: Readonly<Record<ReprovisionAction, readonly DeviceState[]>> = {
  'autopilot-reset': ['enrolled'],
  wipe: ['enrolled'],
  'fresh-start': ['enrolled'],
  retag: ['registered', 'profile-assigned', 'enrolled', 'stalled'],
  deregister: ['registered', 'profile-assigned', 'enrolled', 'failed', 'stalled'],
};

/** Where a completed action leaves the device, by the state it came from. */
export function stateAfterReprovision(action: ReprovisionAction, from: DeviceState): DeviceState {
  if (action === 'deregister') return 'deregistered';
  if (action === 'retag') return from === 'enrolled' ? 'enrolled' : 'profile-assigned';
  return 'enrolled';
}
