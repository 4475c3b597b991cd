import { randomUUID } from 'node:crypto';
import type { AutopilotIdentity, DeviceActionResult, ManagedDevice } from './records.js';
import { normaliseSerial, type ResolvedOptions } from './options.js';
import type { Timeline } from './timeline.js';

export interface WipeParameters {
  keepEnrollmentData: boolean;
  keepUserData: boolean;
}

/**
 * `managedDevices`: a device that boots with its profile assigned enrols, and a remote action
 * takes effect only when the device next checks in.
 */
export class ManagedDeviceLifecycle {
  private readonly bootOverride = new Map<string, boolean>();

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
   * keeps the Intune record (as Autopilot Reset does); a full wipe removes it and the device
   * comes back as a new managed device.
   */
  wipe(id: string, parameters: WipeParameters): boolean {
    const device = this.devices.get(id);
    if (!device) return false;
    this.startAction(device, 'wipe', 'wipePending', (at) => {
      const identity = this.identities.get(device.identityId);
      if (parameters.keepEnrollmentData) {
        if (identity) identity.lastContactedAt = at;
        this.reEnrolLater(identity, at, device);
      } else {
        this.unenrol(device);
        this.reEnrolLater(identity, at);
      }
    });
    return true;
  }

  retire(id: string): boolean {
    const device = this.devices.get(id);
    if (!device) return false;
    this.startAction(device, 'retire', 'retirePending', () => this.unenrol(device));
    return true;
  }

  cleanWindowsDevice(id: string): boolean {
    const device = this.devices.get(id);
    if (!device) return false;
    this.startAction(device, 'cleanWindowsDevice', 'managed', (at) => {
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
    identity.enrollmentState = 'enrolled';
    identity.managedDeviceId = device.id;
    identity.lastContactedAt = at;
  }

  private startAction(
    device: ManagedDevice,
    actionName: DeviceActionResult['actionName'],
    state: ManagedDevice['managementState'],
    takeEffect: (at: number) => void,
  ): void {
    const now = this.timeline.now();
    const result: DeviceActionResult = { actionName, actionState: 'pending', startDateTime: now, lastUpdatedDateTime: now };
    device.actionResults.push(result);
    device.managementState = state;
    this.timeline.at(now + this.timeline.draw(this.options.latencies.remoteActionSeconds), (at) => {
      if (this.devices.get(device.id) !== device) return;
      result.actionState = 'done';
      result.lastUpdatedDateTime = at;
      device.lastSyncAt = at;
      takeEffect(at);
    });
  }

  private unenrol(device: ManagedDevice): void {
    this.devices.delete(device.id);
    const identity = this.identities.get(device.identityId);
    if (identity && identity.managedDeviceId === device.id) {
      identity.managedDeviceId = undefined;
      identity.enrollmentState = 'notContacted';
    }
  }

  private reEnrolLater(identity: AutopilotIdentity | undefined, at: number, keptDevice?: ManagedDevice): void {
    if (!identity) return;
    const generation = identity.generation;
    this.timeline.at(at + this.timeline.draw(this.options.latencies.reEnrolmentSeconds), (enrolledAt) => {
      if (this.identities.get(identity.id) !== identity || identity.generation !== generation) return;
      if (!this.boots(identity) || identity.profileStatus !== 'assignedInSync') return;
      if (keptDevice) {
        if (this.devices.get(keptDevice.id) !== keptDevice) return;
        this.enrol(identity, enrolledAt, keptDevice);
      } else if (identity.enrollmentState !== 'enrolled') {
        this.enrol(identity, enrolledAt);
      }
    });
  }
}
