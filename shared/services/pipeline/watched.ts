import type { DeviceRecord } from '../../domain/device.js';
import type { TickName } from '../../messages/index.js';
import type { StateClause } from '../ports.js';

/**
 * The devices each poll watches, as filters the table service applies: a poll reads only
 * devices its Graph reads can move on, never the settled fleet. An enrolled device is
 * watched only while a new group tag still has to reach Autopilot (intake marks it waiting
 * for `group-tag`).
 */
export const WATCHED: Readonly<Record<TickName, readonly StateClause[]>> = {
  imports: [{ state: 'importing' }, { state: 'stalled', waitingFor: ['import'] }],
  autopilot: [
    { state: 'registered' },
    { state: 'profile-assigned' },
    { state: 'stalled', waitingFor: ['group-tag', 'profile-assignment', 'enrolment'] },
    { state: 'enrolled', waitingFor: ['group-tag'] },
  ],
};

function matches(device: DeviceRecord, clause: StateClause): boolean {
  return (
    device.state === clause.state &&
    (clause.waitingFor === undefined || (device.waitingFor !== undefined && clause.waitingFor.includes(device.waitingFor)))
  );
}

/** The poll a device waits on, if any. The Autopilot poll needs the device's Autopilot id. */
export function pollWaitedOn(device: DeviceRecord): TickName | undefined {
  if (WATCHED.imports.some((clause) => matches(device, clause))) return 'imports';
  if (device.autopilotId && WATCHED.autopilot.some((clause) => matches(device, clause))) return 'autopilot';
  return undefined;
}
