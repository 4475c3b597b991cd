import { randomUUID } from 'node:crypto';
import type { AutopilotIdentity, DeviceActionResult, ManagedDevice } from './records.js';
import { normaliseSerial, type ResolvedOptions } from './options.js';
import type { Timeline } from './timeline.js';

export interface WipeParameters {
  keepEnrollmentData: boolean;
  keepUserData: boolean;
}

interface QueuedAction {
  result: DeviceActionResult;
  takeEffect: (at: number) => void;
}

/** The states an Autopilot identity shows while a deployment profile is assigned to it. */
const PROFILE_ASSIGNED: ReadonlySet<AutopilotIdentity['profileStatus']> = new Set([
  'assignedInSync',
  'assignedOutOfSync',
  'assignedUnkownSyncState',
]);

/**
 * `managedDevices`: a device that boots with its profile assigned enrols, and a remote action
 * takes effect only when the device next checks in.
 */
export class ManagedDeviceLifecycle {
  private readonly bootOverride = new Map<string, boolean>();
  /**
   * Identities whose device has been through OOBE and runs Windows: only a wipe sends it back
   * there, so a retired device (or one whose managed device was deleted) does not enrol again
   * when a profile is assigned later.
   */
  private readonly setUp = new Set<string>();
  /** The latest full wipe of each identity's device: an earlier wipe's re-enrolment is stale. */
  private readonly wipes = new Map<string, number>();
  /** Actions waiting for each managed device's next check-in, by managed device id. */
  private readonly checkIns = new Map<string, QueuedAction[]>();

  constructor(
    private readonly devices: Map<string, ManagedDevice>,
    private readonly identities: ReadonlyMap<string, AutopilotIdentity>,
    private readonly timeline: Timeline,
    private readonly options: ResolvedOptions,
  ) {}

  scheduleBoot(identity: AutopilotIdentity, at: number): void {
    const generation = identity.generation;
    this.timeline.at(at, (bootedAt) => {
      if (this.identities.get(identity.id) !== identity || identity.generation !== generation) return;
      if (!this.boots(identity) || identity.profileStatus !== 'assignedInSync' || identity.enrollmentState === 'enrolled') return;
      if (this.setUp.has(identity.id)) return;
      this.enrol(identity, bootedAt);
    });
  }

  setDeviceBoots(serial: string, boots: boolean, identity: AutopilotIdentity | undefined): void {
    this.bootOverride.set(normaliseSerial(serial), boots);
    if (boots && identity && identity.profileStatus === 'assignedInSync' && identity.enrollmentState !== 'enrolled') {
      this.scheduleBoot(identity, this.timeline.now() + this.timeline.draw(this.options.latencies.enrolmentSeconds));
    }
  }

  findBySerial(serial: string): ManagedDevice[] {
    const wanted = normaliseSerial(serial);
    return [...this.devices.values()].filter((d) => normaliseSerial(d.serialNumber) === wanted);
  }

  /**
   * Wipe: the device checks in, resets and goes through OOBE again. Keeping enrollment data
   * keeps the Intune record (Autopilot Reset: the same managed device comes back `managed`);
   * a full wipe removes it and the device comes back as a new managed device.
   */
  wipe(id: string, parameters: WipeParameters): boolean {
    const device = this.devices.get(id);
    if (!device) return false;
    this.startAction(device, 'wipe', 'wipePending', (at) => {
      const identity = this.identities.get(device.identityId);
      if (parameters.keepEnrollmentData) {
        if (identity) identity.lastContactedAt = at;
        this.returnAfterReset(identity, device, at);
      } else {
        this.unenrol(device);
        this.reEnrolLater(identity, at);
      }
    });
    return true;
  }

  /** Retire: the device leaves Intune and keeps running Windows; it does not enrol again. */
  retire(id: string): boolean {
    const device = this.devices.get(id);
    if (!device) return false;
    this.startAction(device, 'retire', 'retirePending', () => this.unenrol(device));
    return true;
  }

  cleanWindowsDevice(id: string): boolean {
    const device = this.devices.get(id);
    if (!device) return false;
    this.startAction(device, 'cleanWindowsDevice', undefined, (at) => {
      if (!this.options.freshStartReEnrols) return;
      this.unenrol(device);
      this.reEnrolLater(this.identities.get(device.identityId), at);
    });
    return true;
  }

  delete(id: string): boolean {
    const device = this.devices.get(id);
    if (!device) return false;
    this.unenrol(device);
    return true;
  }

  private boots(identity: AutopilotIdentity): boolean {
    return this.bootOverride.get(normaliseSerial(identity.serialNumber)) ?? this.options.devicesBoot;
  }

  private enrol(identity: AutopilotIdentity, at: number, reuseDevice?: ManagedDevice): void {
    const device: ManagedDevice = reuseDevice ?? {
      id: randomUUID(),
      identityId: identity.id,
      serialNumber: identity.serialNumber,
      deviceName:
        identity.displayName ||
        `DESKTOP-${identity.serialNumber
          .replace(/[^A-Za-z0-9]/g, '')
          .slice(-7)
          .toUpperCase()}`,
      manufacturer: identity.manufacturer,
      model: identity.model,
      azureAdDeviceId: identity.azureAdDeviceId,
      userPrincipalName: identity.userPrincipalName,
      enrollmentProfileName: identity.profileName ?? '',
      enrolledAt: at,
      lastSyncAt: at,
      managementState: 'managed',
      actionResults: [],
    };
    device.managementState = 'managed';
    device.lastSyncAt = at;
    this.devices.set(device.id, device);
    this.setUp.add(identity.id);
    identity.enrollmentState = 'enrolled';
    identity.managedDeviceId = device.id;
    identity.lastContactedAt = at;
  }

  /**
   * Records the action as `pending` and queues it for the device's next check-in, which is
   * `remoteActionSeconds` after the first action queued since the last one: every action
   * queued by then is carried out at that check-in, in the order issued, each entry `done`.
   */
  private startAction(
    device: ManagedDevice,
    actionName: DeviceActionResult['actionName'],
    state: ManagedDevice['managementState'] | undefined,
    takeEffect: (at: number) => void,
  ): void {
    const now = this.timeline.now();
    const result: DeviceActionResult = { actionName, actionState: 'pending', startDateTime: now, lastUpdatedDateTime: now };
    device.actionResults.push(result);
    if (state !== undefined) device.managementState = state;
    const queued = this.checkIns.get(device.id);
    if (queued) {
      queued.push({ result, takeEffect });
      return;
    }
    this.checkIns.set(device.id, [{ result, takeEffect }]);
    this.timeline.at(now + this.timeline.draw(this.options.latencies.remoteActionSeconds), (at) => {
      const actions = this.checkIns.get(device.id) ?? [];
      this.checkIns.delete(device.id);
      if (this.devices.get(device.id) !== device) return;
      device.lastSyncAt = at;
      for (const action of actions) {
        if (this.devices.get(device.id) !== device) return;
        action.result.actionState = 'done';
        action.result.lastUpdatedDateTime = at;
        action.takeEffect(at);
      }
    });
  }

  private unenrol(device: ManagedDevice): void {
    this.devices.delete(device.id);
    this.checkIns.delete(device.id);
    const identity = this.identities.get(device.identityId);
    if (identity && identity.managedDeviceId === device.id) {
      identity.managedDeviceId = undefined;
      identity.enrollmentState = 'notContacted';
    }
  }

  private present(identity: AutopilotIdentity): boolean {
    return this.identities.get(identity.id) === identity && !identity.deleting;
  }

  /** Autopilot Reset: the device resets, keeps its enrolment and is back `reEnrolmentSeconds` later. */
  private returnAfterReset(identity: AutopilotIdentity | undefined, device: ManagedDevice, at: number): void {
    if (!identity) return;
    this.timeline.at(at + this.timeline.draw(this.options.latencies.reEnrolmentSeconds), (backAt) => {
      if (!this.present(identity) || !this.boots(identity) || this.devices.get(device.id) !== device) return;
      this.enrol(identity, backAt, device);
    });
  }

  /**
   * After a full wipe the device is at OOBE again: `reEnrolmentSeconds` later it enrols as a new
   * managed device if a profile is assigned to it then (in sync or not: the device downloads the
   * one it has); otherwise it waits at OOBE and enrols once a profile is assigned.
   */
  private reEnrolLater(identity: AutopilotIdentity | undefined, at: number): void {
    if (!identity) return;
    this.setUp.delete(identity.id);
    const wipe = (this.wipes.get(identity.id) ?? 0) + 1;
    this.wipes.set(identity.id, wipe);
    this.timeline.at(at + this.timeline.draw(this.options.latencies.reEnrolmentSeconds), (enrolledAt) => {
      if (this.wipes.get(identity.id) !== wipe || !this.present(identity) || !this.boots(identity)) return;
      if (!PROFILE_ASSIGNED.has(identity.profileStatus)) return;
      if (identity.enrollmentState === 'enrolled' || this.setUp.has(identity.id)) return;
      this.enrol(identity, enrolledAt);
    });
  }
}
