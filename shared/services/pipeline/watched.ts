import type { DeviceRecord } from '../../domain/device.js';
import { matchesClause } from '../../domain/follow-ups.js';
import { openRequest } from '../../domain/reprovision.js';
import type { TickName } from '../../messages/index.js';
import type { StateClause } from '../ports.js';

/**
 * The devices each poll watches, read from the index of waiting devices (`followUpOf`): a poll
 * reads only devices its Graph reads can move on, never the settled fleet, and runs while any of them
 * waits. An enrolled device is watched only while a new group tag still has to reach
 * Autopilot (intake marks it waiting for `group-tag`). A device stalled on its import keeps
 * no poll going: the import poll lists the whole tenant's imported records, so it runs only
 * while devices are importing, and a stalled device waits for a re-drive (`STALLED_ON_IMPORT`).
 */
export const WATCHED: Readonly<Record<TickName, readonly StateClause[]>> = {
  imports: [{ state: 'importing' }],
  autopilot: [
    { state: 'registered' },
    { state: 'profile-assigned' },
    { state: 'stalled', waitingFor: ['group-tag', 'profile-assignment', 'enrolment'] },
    { state: 'enrolled', waitingFor: ['group-tag'] },
  ],
  // Few at a time (service-desk requests); the poll follows those whose Graph call was made.
  reprovision: [{ state: 'reprovisioning' }],
};

/**
 * Looked at in passing by an import poll that runs for importing devices: a late result still
 * moves such a device on, and its imported record stays for a re-drive to find.
 */
export const STALLED_ON_IMPORT: StateClause = { state: 'stalled', waitingFor: ['import'] };

/** A request whose Graph call was made: the re-provisioning poll follows it (before that, the worker owns it). */
export function isFollowedUp(device: DeviceRecord): boolean {
  const stage = openRequest(device)?.stage;
  return device.state === 'reprovisioning' && (stage === 'sent' || stage === 'managed-device-deleted');
}

/** The poll a device waits on, if any. The Autopilot poll needs the device's Autopilot id. */
export function pollWaitedOn(device: DeviceRecord): TickName | undefined {
  if (WATCHED.imports.some((clause) => matchesClause(device, clause))) return 'imports';
  if (device.autopilotId && WATCHED.autopilot.some((clause) => matchesClause(device, clause))) return 'autopilot';
  if (isFollowedUp(device)) return 'reprovision';
  return undefined;
}
