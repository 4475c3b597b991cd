import type { AutopilotIdentity, ManagedDevice, ManagedDeviceAction } from './autopilot.js';
import { isProfileAssigned } from './autopilot-outcomes.js';
import type { DeviceRecord } from './device.js';
import { REPROVISION_ALLOWED_FROM, type ReprovisionAction } from './lifecycle.js';
import type { ReprovisionRequest } from './reprovision-request.js';

export type { ReprovisionRequest, ReprovisionStage } from './reprovision-request.js';

/**
 * What the service desk asked for, and what Intune and Autopilot show of it. Pure: the
 * webhook decides with `refusal`, the re-provisioning worker and its poll carry out and
 * follow each request with the other functions here.
 */

/** The request a device is working on: set while it is `reprovisioning`, or stalled on one. */
export function openRequest(device: DeviceRecord): ReprovisionRequest | undefined {
  const request = device.reprovision;
  if (!request) return undefined;
  if (device.state === 'reprovisioning') return request;
  if (device.state === 'stalled' && device.waitingFor === 'reprovision') return request;
  return undefined;
}

/** Why an action cannot start now (a 409), or undefined when it can. */
export function refusal(device: DeviceRecord, action: ReprovisionAction): { code: 'action-not-allowed'; message: string } | undefined {
  const allowed = REPROVISION_ALLOWED_FROM[action];
  if (!allowed.includes(device.state)) {
    return {
      code: 'action-not-allowed',
      message: `The device is ${device.state}; ${action} is allowed only while it is ${allowed.join(', ')}.`,
    };
  }
  // A device stalled on its import never reached Autopilot: there is nothing to re-tag yet.
  if (action === 'retag' && !device.autopilotId) {
    return {
      code: 'action-not-allowed',
      message: `The device is ${device.state} and not registered in Autopilot yet; retag needs a registered device.`,
    };
  }
  return undefined;
}

/** The Intune remote action each device action sends (graph-autopilot.md, remote actions). */
export function remoteActionFor(action: ReprovisionAction): ManagedDeviceAction | undefined {
  switch (action) {
    case 'autopilot-reset':
      return { action: 'wipe', keepEnrollmentData: true, keepUserData: false };
    case 'wipe':
      return { action: 'wipe', keepEnrollmentData: false, keepUserData: false };
    case 'fresh-start':
      return { action: 'cleanWindowsDevice', keepUserData: false };
    default:
      return undefined;
  }
}

type ActionEntry = ManagedDevice['deviceActionResults'][number];

const sameName = (entry: ActionEntry, name: string): boolean => entry.actionName.toLowerCase() === name.toLowerCase();

/** The newest start time among a device's entries for `actionName`, or `none`. */
export function actionBaseline(device: ManagedDevice, actionName: string): string {
  const times = device.deviceActionResults
    .filter((entry) => sameName(entry, actionName))
    .map((entry) => entry.startDateTime ?? '')
    .filter((time) => time !== '');
  return times.length === 0 ? 'none' : times.sort().at(-1)!;
}

/** The entry this request's action created: the newest one started after the baseline. */
export function requestEntry(device: ManagedDevice, actionName: string, baseline: string | undefined): ActionEntry | undefined {
  return device.deviceActionResults
    .filter((entry) => sameName(entry, actionName))
    .filter((entry) => baseline === undefined || baseline === 'none' || (entry.startDateTime ?? '') > baseline)
    .sort((a, b) => (a.startDateTime ?? '').localeCompare(b.startDateTime ?? ''))
    .at(-1);
}

/**
 * A delivery that finds the request `sending` (an earlier one saved its intent, and may or may
 * not have sent the action): what the managed device the action went to now shows decides.
 * A plain wipe that took effect removes that managed device, so its absence means "sent";
 * never is the action sent to any other managed device.
 */
export function redeliveredSend(
  request: ReprovisionRequest,
  target: ManagedDevice | 'gone',
  actionName: string,
  now: Date,
): 'already-sent' | 'send' | 'wait' | 'gone' {
  if (target === 'gone') return request.action === 'wipe' ? 'already-sent' : 'gone';
  if (requestEntry(target, actionName, request.actionBaseline)) return 'already-sent';
  if (request.sendingUntil !== undefined && Date.parse(request.sendingUntil) > now.getTime()) return 'wait';
  return 'send';
}

/** Action states Intune reports that mean the action will not happen. */
const REFUSED_ACTION_STATES: ReadonlySet<string> = new Set(['failed', 'canceled', 'notsupported']);

export type Progress =
  | { readonly kind: 'wait' }
  | { readonly kind: 'done'; readonly managedDeviceId?: string | undefined }
  /** Graph will not do it: the device returns to the state it came from. */
  | { readonly kind: 'refused'; readonly code: string; readonly message: string };

const WAIT: Progress = { kind: 'wait' };

/**
 * Autopilot Reset and Fresh Start are done when their action entry is `done` on the same
 * managed device; a managed device that vanished meanwhile, or an entry Intune failed,
 * cancelled or does not support, is a refusal.
 */
export function actionProgress(request: ReprovisionRequest, managed: ManagedDevice | 'gone', actionName: string): Progress {
  if (managed === 'gone') return { kind: 'refused', code: 'managed-device-gone', message: 'Intune no longer has the managed device.' };
  const entry = requestEntry(managed, actionName, request.actionBaseline);
  if (!entry) return WAIT;
  const state = entry.actionState.toLowerCase();
  if (state === 'done') return { kind: 'done', managedDeviceId: managed.id };
  if (REFUSED_ACTION_STATES.has(state)) {
    return { kind: 'refused', code: `action-${state}`, message: `Intune reports the ${actionName} action as ${entry.actionState}.` };
  }
  return WAIT;
}

/**
 * A plain wipe removes the device from Intune; it is done once the device has enrolled again,
 * as a new managed device. `identity` is the Autopilot identity now; `oldDevice` the managed
 * device the wipe went to, read only while the identity shows no new one.
 */
export function wipeProgress(
  request: ReprovisionRequest,
  identity: AutopilotIdentity | 'gone',
  oldDevice: ManagedDevice | 'gone' | undefined,
): Progress {
  if (identity === 'gone') return { kind: 'refused', code: 'not-in-autopilot', message: 'Autopilot no longer has the device.' };
  if (identity.managedDeviceId && identity.managedDeviceId !== request.managedDeviceId && identity.enrollmentState === 'enrolled') {
    return { kind: 'done', managedDeviceId: identity.managedDeviceId };
  }
  if (oldDevice === undefined || oldDevice === 'gone') return WAIT;
  const entry = requestEntry(oldDevice, 'wipe', request.actionBaseline);
  const state = entry?.actionState.toLowerCase();
  if (state !== undefined && REFUSED_ACTION_STATES.has(state)) {
    return { kind: 'refused', code: `action-${state}`, message: `Intune reports the wipe action as ${entry!.actionState}.` };
  }
  return WAIT;
}

/**
 * A re-tag is done when Autopilot shows the new tag and a profile assigned for it: an
 * assignment newer than the one shown when the tag was set, or — the new tag maps to the same
 * profile, so nothing changes — one that has held for the settle time.
 */
export function retagProgress(
  request: ReprovisionRequest,
  identity: AutopilotIdentity | 'gone',
  now: Date,
  retagSettleMs: number,
): Progress {
  if (identity === 'gone') return { kind: 'refused', code: 'not-in-autopilot', message: 'Autopilot no longer has the device.' };
  if ((identity.groupTag ?? '') !== (request.groupTag ?? '')) return WAIT;
  if (!isProfileAssigned(identity.deploymentProfileAssignmentStatus)) return WAIT;
  const assignedAt = identity.deploymentProfileAssignedDateTime ?? 'none';
  const settled = now.getTime() - Date.parse(request.sentAt ?? request.requestedAt) >= retagSettleMs;
  return assignedAt !== request.profileBaseline || settled ? { kind: 'done', managedDeviceId: identity.managedDeviceId } : WAIT;
}

/** What the service desk sends (the webhook's body, validated). */
export interface ReprovisionAsk {
  readonly action: ReprovisionAction;
  readonly groupTag?: string | undefined;
  readonly allowReimport?: boolean | undefined;
  readonly ticket: string;
  readonly requestedBy: string;
}

/** The answer's body for an accepted request; a repeat of the request gets the same. */
export interface AcceptedBody {
  readonly requestId: string;
  readonly serial: string;
  readonly action: ReprovisionAction;
  readonly state: 'reprovisioning';
  readonly statusUrl: string;
}
