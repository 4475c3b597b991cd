import type { DeviceRecord } from './device.js';
import type { DeviceState, WaitStep } from './lifecycle.js';

/**
 * Which follow-up a device waits on, as one name: the index of waiting devices keeps each
 * name's devices apart (a range of partitions per name), so every poll, the sweeper and a
 * re-drive read only the devices they concern. A settled device (enrolled with nothing to wait for, failed, rejected,
 * deregistered) has none, so the settled fleet is never read.
 */
export type FollowUp =
  | 'received'
  | 'importing'
  | 'autopilot'
  | 'reprovisioning'
  | `stalled-${WaitStep}`
  /** A stalled device whose record names no step (written before steps were recorded). */
  | 'stalled';

const WAIT_STEPS: readonly WaitStep[] = ['import', 'group-tag', 'profile-assignment', 'enrolment', 'reprovision'];

/** Every follow-up a stalled device can be under. */
export const STALLED_FOLLOW_UPS: readonly FollowUp[] = [...WAIT_STEPS.map((step) => `stalled-${step}` as const), 'stalled'];

/** Every follow-up, each a range of partitions of the index. */
export const FOLLOW_UPS: readonly FollowUp[] = ['received', 'importing', 'autopilot', 'reprovisioning', ...STALLED_FOLLOW_UPS];

export function followUpOf(device: Pick<DeviceRecord, 'state' | 'waitingFor'>): FollowUp | undefined {
  switch (device.state) {
    case 'received':
      return 'received';
    case 'importing':
      return 'importing';
    case 'registered':
    case 'profile-assigned':
      return 'autopilot';
    case 'enrolled':
      // An enrolled device waits only while a new group tag has to reach Autopilot.
      return device.waitingFor === 'group-tag' ? 'autopilot' : undefined;
    case 'reprovisioning':
      return 'reprovisioning';
    case 'stalled':
      return device.waitingFor === undefined ? 'stalled' : `stalled-${device.waitingFor}`;
    default:
      return undefined;
  }
}

/**
 * The follow-ups that can hold devices in `state` waiting for one of `waitingFor` (any step when
 * not given). Settled devices (enrolled and waiting for no new tag, failed, rejected,
 * deregistered) are not indexed: asking for them is an error.
 */
export function followUpsFor(state: DeviceState, waitingFor?: readonly WaitStep[]): readonly FollowUp[] {
  if (state === 'stalled') return waitingFor ? waitingFor.map((step) => `stalled-${step}` as const) : STALLED_FOLLOW_UPS;
  const one = followUpOf({ state, waitingFor: state === 'enrolled' && waitingFor?.includes('group-tag') ? 'group-tag' : undefined });
  // Asking for settled devices would silently find none: say so instead.
  if (one === undefined)
    throw new Error(`devices ${state}${waitingFor ? ` waiting for ${waitingFor.join('/')}` : ''} wait on nothing and are not indexed`);
  return [one];
}

/**
 * Whether a device in this state may still need its hardware hash: until Autopilot has it.
 * Registration is where the hash is let go; the store clears it then, whatever the writer read.
 */
export function holdsHardwareHash(state: DeviceState): boolean {
  return state === 'received' || state === 'importing' || state === 'stalled' || state === 'failed' || state === 'rejected';
}

/** Devices in `state`, waiting for one of `waitingFor` when given, of the file `batchId` when given. */
export interface DeviceClause {
  readonly state: DeviceState;
  readonly waitingFor?: readonly WaitStep[];
  readonly batchId?: string;
}

export function matchesClause(device: Pick<DeviceRecord, 'state' | 'waitingFor' | 'batchId'>, clause: DeviceClause): boolean {
  return (
    device.state === clause.state &&
    (clause.waitingFor === undefined || (device.waitingFor !== undefined && clause.waitingFor.includes(device.waitingFor))) &&
    (clause.batchId === undefined || device.batchId === clause.batchId)
  );
}
