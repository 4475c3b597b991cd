import { randomUUID } from 'node:crypto';
import type { SimClock } from './clock.js';
import { HashRecordType, isStructurallyValidHash, readHashStrings } from './hardware-hash.js';
import { matchesRule, normaliseSerial, type ResolvedOptions, type SimSeconds } from './options.js';
import type { Random } from './random.js';

/**
 * The tenant the simulator pretends to be: imported records, Autopilot identities, Intune
 * managed devices, and the timeline that moves them. Nothing happens on timers: every read
 * first runs the events that are due at the simulated now, so the state is a pure function
 * of the requests made and the clock.
 */

export type ImportStatus = 'unknown' | 'pending' | 'partial' | 'complete' | 'error';
export type EnrollmentState = 'unknown' | 'enrolled' | 'pendingReset' | 'failed' | 'notContacted';
export type ProfileAssignmentStatus =
  'unknown' | 'assignedInSync' | 'assignedOutOfSync' | 'assignedUnkownSyncState' | 'notAssigned' | 'pending' | 'failed';

export interface ImportedRecord {
  id: string;
  serialNumber: string;
  productKey: string;
  hardwareIdentifier: string;
  groupTag: string;
  assignedUserPrincipalName: string;
  importId: string;
  state: { deviceImportStatus: ImportStatus; deviceRegistrationId: string; deviceErrorCode: number; deviceErrorName: string };
}

export interface AutopilotIdentity {
  id: string;
  serialNumber: string;
  groupTag: string;
  purchaseOrderIdentifier: string;
  productKey: string;
  manufacturer: string;
  model: string;
  enrollmentState: EnrollmentState;
  lastContactedAt: number | undefined;
  managedDeviceId: string | undefined;
  azureAdDeviceId: string;
  displayName: string;
  userPrincipalName: string;
  addressableUserName: string;
  profileStatus: ProfileAssignmentStatus;
  profileName: string | undefined;
  profileAssignedAt: number | undefined;
  createdAt: number;
  /** Bumped on every re-tag, wipe or deletion so that stale timeline events do nothing. */
  generation: number;
  deleting: boolean;
}

export interface DeviceActionResult {
  actionName: 'wipe' | 'retire' | 'cleanWindowsDevice';
  actionState: 'pending' | 'done';
  startDateTime: number;
  lastUpdatedDateTime: number;
}

export interface ManagedDevice {
  id: string;
  identityId: string;
  serialNumber: string;
  deviceName: string;
  manufacturer: string;
  model: string;
  azureAdDeviceId: string;
  userPrincipalName: string;
  enrollmentProfileName: string;
  enrolledAt: number;
  lastSyncAt: number;
  managementState: 'managed' | 'wipePending' | 'retirePending';
  actionResults: DeviceActionResult[];
}

export interface ImportInput {
  serialNumber?: unknown;
  productKey?: unknown;
  hardwareIdentifier?: unknown;
  groupTag?: unknown;
  assignedUserPrincipalName?: unknown;
  importId?: unknown;
}

export interface WipeParameters {
  keepEnrollmentData: boolean;
  keepUserData: boolean;
}

export type SyncOutcome = 'started' | 'running' | 'too-soon';
export type IdentityDeleteOutcome = 'deleted' | 'not-found' | 'enrolled';

const SYNC_COOLDOWN_MS = 10 * 60 * 1000;

export class Tenant {
  readonly imported = new Map<string, ImportedRecord>();
  readonly identities = new Map<string, AutopilotIdentity>();
  /** Identities by normalised serial, in creation order: an import must not scan them all. */
  private readonly identitiesBySerial = new Map<string, Set<AutopilotIdentity>>();
  readonly managedDevices = new Map<string, ManagedDevice>();
  private readonly timeline = new Timeline();
  private readonly profileBlocked = new Map<string, 'notAssigned' | 'pending' | 'failed'>();
  private readonly bootOverride = new Map<string, boolean>();
  private lastSyncStartedAt: number | undefined;
  private lastSyncEndsAt = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly random: Random,
    private readonly options: ResolvedOptions,
  ) {}

  /** Runs everything that is due by the simulated now. */
  catchUp(): void {
    this.timeline.runDue(this.clock.now());
  }

  // ---- importedWindowsAutopilotDeviceIdentities ----

  importDevices(inputs: ImportInput[]): ImportedRecord[] {
    const now = this.clock.now();
    const hashesInBatch = new Set<string>();
    return inputs.map((input) => {
      const record: ImportedRecord = {
        id: randomUUID(),
        serialNumber: text(input.serialNumber),
        productKey: text(input.productKey),
        hardwareIdentifier: text(input.hardwareIdentifier),
        groupTag: text(input.groupTag),
        assignedUserPrincipalName: text(input.assignedUserPrincipalName),
        importId: text(input.importId),
        state: { deviceImportStatus: 'unknown', deviceRegistrationId: '', deviceErrorCode: 0, deviceErrorName: '' },
      };
      const duplicated = record.hardwareIdentifier !== '' && hashesInBatch.has(record.hardwareIdentifier);
      hashesInBatch.add(record.hardwareIdentifier);
      this.imported.set(record.id, record);

      const latencyMs = this.draw(this.options.latencies.importSeconds);
      this.timeline.at(now + latencyMs * 0.1, () => {
        if (record.state.deviceImportStatus === 'unknown') record.state.deviceImportStatus = 'pending';
      });
      this.timeline.at(now + latencyMs, (at) => this.finishImport(record, duplicated, at));
      return record;
    });
  }

  private finishImport(record: ImportedRecord, duplicated: boolean, at: number): void {
    const fail = (code: number, name: string): void => {
      record.state = { deviceImportStatus: 'error', deviceRegistrationId: '', deviceErrorCode: code, deviceErrorName: name };
    };
    if (record.serialNumber === '' && record.productKey === '') return fail(803, 'MissingZtdSerialNumberAndProductKey');
    if (!isStructurallyValidHash(record.hardwareIdentifier)) return fail(802, 'InvalidZtdHardwareHash');
    if (duplicated) return fail(this.options.duplicatedErrorCode, 'ZtdDeviceDuplicated');
    const serial = normaliseSerial(record.serialNumber);
    if (this.options.otherTenantSerials.has(serial)) return fail(808, 'ZtdDeviceAssignedToOtherTenant');
    if (this.findIdentityBySerial(serial)) return fail(806, 'ZtdDeviceAlreadyAssigned');

    const strings = readHashStrings(record.hardwareIdentifier);
    const identity = this.createIdentity(
      {
        serialNumber: record.serialNumber,
        groupTag: record.groupTag,
        productKey: record.productKey,
        userPrincipalName: record.assignedUserPrincipalName,
        manufacturer: strings.get(HashRecordType.SmbiosSystemManufacturer) ?? '',
        model: strings.get(HashRecordType.SmbiosProductName) ?? '',
      },
      at,
    );
    record.state = { deviceImportStatus: 'complete', deviceRegistrationId: identity.id, deviceErrorCode: 0, deviceErrorName: '' };
  }

  deleteImported(id: string): boolean {
    return this.imported.delete(id);
  }

  // ---- windowsAutopilotDeviceIdentities ----

  createIdentity(
    fields: Pick<AutopilotIdentity, 'serialNumber' | 'groupTag' | 'productKey' | 'userPrincipalName' | 'manufacturer' | 'model'>,
    at: number,
  ): AutopilotIdentity {
    const identity: AutopilotIdentity = {
      ...fields,
      id: randomUUID(),
      purchaseOrderIdentifier: '',
      enrollmentState: 'notContacted',
      lastContactedAt: undefined,
      managedDeviceId: undefined,
      azureAdDeviceId: randomUUID(),
      displayName: '',
      addressableUserName: '',
      profileStatus: 'notAssigned',
      profileName: undefined,
      profileAssignedAt: undefined,
      createdAt: at,
      generation: 0,
      deleting: false,
    };
    this.identities.set(identity.id, identity);
    const serial = normaliseSerial(identity.serialNumber);
    const sameSerial = this.identitiesBySerial.get(serial) ?? new Set<AutopilotIdentity>();
    this.identitiesBySerial.set(serial, sameSerial.add(identity));
    this.groupTagChanged(identity, at);
    return identity;
  }

  findIdentityBySerial(serial: string): AutopilotIdentity | undefined {
    const [first] = this.identitiesBySerial.get(normaliseSerial(serial)) ?? [];
    return first;
  }

  updateDeviceProperties(
    id: string,
    properties: Partial<Record<'groupTag' | 'displayName' | 'userPrincipalName' | 'addressableUserName', string>>,
  ): boolean {
    const identity = this.identities.get(id);
    if (!identity) return false;
    const tagChanged = properties.groupTag !== undefined && properties.groupTag !== identity.groupTag;
    if (properties.groupTag !== undefined) identity.groupTag = properties.groupTag;
    if (properties.displayName !== undefined) identity.displayName = properties.displayName;
    if (properties.userPrincipalName !== undefined) identity.userPrincipalName = properties.userPrincipalName;
    if (properties.addressableUserName !== undefined) identity.addressableUserName = properties.addressableUserName;
    if (tagChanged) this.groupTagChanged(identity, this.clock.now());
    return true;
  }

  deleteIdentity(id: string): IdentityDeleteOutcome {
    const identity = this.identities.get(id);
    if (!identity || identity.deleting) return 'not-found';
    if (identity.managedDeviceId !== undefined && this.managedDevices.has(identity.managedDeviceId)) return 'enrolled';
    identity.generation += 1;
    const delayMs = this.draw(this.options.latencies.identityDeletionSeconds);
    if (delayMs <= 0) {
      this.removeIdentity(identity);
    } else {
      identity.deleting = true;
      this.timeline.at(this.clock.now() + delayMs, () => this.removeIdentity(identity));
    }
    return 'deleted';
  }

  private removeIdentity(identity: AutopilotIdentity): void {
    this.identities.delete(identity.id);
    const serial = normaliseSerial(identity.serialNumber);
    const sameSerial = this.identitiesBySerial.get(serial);
    sameSerial?.delete(identity);
    if (sameSerial?.size === 0) this.identitiesBySerial.delete(serial);
  }

  /**
   * Group membership follows the tag after a while, then the profile follows the group.
   * A tag that matches no rule drops the device out of the group and unassigns the profile.
   */
  private groupTagChanged(identity: AutopilotIdentity, at: number): void {
    const rule = this.options.profileRules.find((r) => matchesRule(r, identity.groupTag));
    if (rule && rule.profileName === identity.profileName && identity.profileStatus === 'assignedInSync') return;
    identity.generation += 1;
    const generation = identity.generation;
    const current = (): boolean => this.identities.get(identity.id) === identity && identity.generation === generation;
    const blocked = this.profileBlocked.get(normaliseSerial(identity.serialNumber));

    const joinsGroupAt = at + this.draw(this.options.latencies.groupMembershipSeconds);
    if (!rule) {
      this.timeline.at(joinsGroupAt, () => {
        if (!current()) return;
        identity.profileStatus = 'notAssigned';
        identity.profileName = undefined;
        identity.profileAssignedAt = undefined;
      });
      return;
    }
    if (blocked === 'notAssigned') return;
    this.timeline.at(joinsGroupAt, (joinedAt) => {
      if (!current()) return;
      identity.profileStatus = identity.profileName === undefined ? 'pending' : 'assignedOutOfSync';
      if (blocked === 'pending') return;
      if (blocked === 'failed') {
        this.timeline.at(joinedAt + this.draw(this.options.latencies.profileAssignmentSeconds), () => {
          if (current()) identity.profileStatus = 'failed';
        });
        return;
      }
      this.timeline.at(joinedAt + this.draw(this.options.latencies.profileAssignmentSeconds), (assignedAt) => {
        if (!current()) return;
        identity.profileStatus = 'assignedInSync';
        identity.profileName = rule.profileName;
        identity.profileAssignedAt = assignedAt;
        this.scheduleBoot(identity, assignedAt + this.draw(this.options.latencies.enrolmentSeconds));
      });
    });
  }

  private boots(identity: AutopilotIdentity): boolean {
    return this.bootOverride.get(normaliseSerial(identity.serialNumber)) ?? this.options.devicesBoot;
  }

  private scheduleBoot(identity: AutopilotIdentity, at: number): void {
    const generation = identity.generation;
    this.timeline.at(at, (bootedAt) => {
      if (this.identities.get(identity.id) !== identity || identity.generation !== generation) return;
      if (!this.boots(identity) || identity.profileStatus !== 'assignedInSync' || identity.enrollmentState === 'enrolled') return;
      this.enrol(identity, bootedAt);
    });
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
    this.managedDevices.set(device.id, device);
    identity.enrollmentState = 'enrolled';
    identity.managedDeviceId = device.id;
    identity.lastContactedAt = at;
  }

  // ---- managedDevices ----

  findManagedDevicesBySerial(serial: string): ManagedDevice[] {
    const wanted = normaliseSerial(serial);
    return [...this.managedDevices.values()].filter((d) => normaliseSerial(d.serialNumber) === wanted);
  }

  /**
   * Wipe: the device checks in, resets and goes through OOBE again. Keeping enrollment data
   * keeps the Intune record (as Autopilot Reset does); a full wipe removes it and the device
   * comes back as a new managed device.
   */
  wipe(id: string, parameters: WipeParameters): boolean {
    const device = this.managedDevices.get(id);
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
    const device = this.managedDevices.get(id);
    if (!device) return false;
    this.startAction(device, 'retire', 'retirePending', () => this.unenrol(device));
    return true;
  }

  cleanWindowsDevice(id: string): boolean {
    const device = this.managedDevices.get(id);
    if (!device) return false;
    this.startAction(device, 'cleanWindowsDevice', 'managed', (at) => {
      if (!this.options.freshStartReEnrols) return;
      this.unenrol(device);
      this.reEnrolLater(this.identities.get(device.identityId), at);
    });
    return true;
  }

  deleteManagedDevice(id: string): boolean {
    const device = this.managedDevices.get(id);
    if (!device) return false;
    this.unenrol(device);
    return true;
  }

  private startAction(
    device: ManagedDevice,
    actionName: DeviceActionResult['actionName'],
    state: ManagedDevice['managementState'],
    takeEffect: (at: number) => void,
  ): void {
    const now = this.clock.now();
    const result: DeviceActionResult = { actionName, actionState: 'pending', startDateTime: now, lastUpdatedDateTime: now };
    device.actionResults.push(result);
    device.managementState = state;
    this.timeline.at(now + this.draw(this.options.latencies.remoteActionSeconds), (at) => {
      if (this.managedDevices.get(device.id) !== device) return;
      result.actionState = 'done';
      result.lastUpdatedDateTime = at;
      device.lastSyncAt = at;
      takeEffect(at);
    });
  }

  private unenrol(device: ManagedDevice): void {
    this.managedDevices.delete(device.id);
    const identity = this.identities.get(device.identityId);
    if (identity && identity.managedDeviceId === device.id) {
      identity.managedDeviceId = undefined;
      identity.enrollmentState = 'notContacted';
    }
  }

  private reEnrolLater(identity: AutopilotIdentity | undefined, at: number, keptDevice?: ManagedDevice): void {
    if (!identity) return;
    const generation = identity.generation;
    this.timeline.at(at + this.draw(this.options.latencies.reEnrolmentSeconds), (enrolledAt) => {
      if (this.identities.get(identity.id) !== identity || identity.generation !== generation) return;
      if (!this.boots(identity) || identity.profileStatus !== 'assignedInSync') return;
      if (keptDevice) {
        if (this.managedDevices.get(keptDevice.id) !== keptDevice) return;
        this.enrol(identity, enrolledAt, keptDevice);
      } else if (identity.enrollmentState !== 'enrolled') {
        this.enrol(identity, enrolledAt);
      }
    });
  }

  // ---- windowsAutopilotSettings ----

  sync(): SyncOutcome {
    const now = this.clock.now();
    if (now < this.lastSyncEndsAt) return 'running';
    if (this.lastSyncStartedAt !== undefined && now - this.lastSyncStartedAt < SYNC_COOLDOWN_MS) return 'too-soon';
    this.lastSyncStartedAt = now;
    this.lastSyncEndsAt = now + this.draw(this.options.latencies.syncRunSeconds);
    return 'started';
  }

  syncState(): { lastSyncAt: number | undefined; running: boolean } {
    return { lastSyncAt: this.lastSyncStartedAt, running: this.clock.now() < this.lastSyncEndsAt };
  }

  // ---- controls for tests ----

  blockProfileAssignment(serial: string, stuckAt: 'notAssigned' | 'pending' | 'failed'): void {
    this.profileBlocked.set(normaliseSerial(serial), stuckAt);
    const identity = this.findIdentityBySerial(serial);
    if (identity && identity.profileStatus !== 'assignedInSync') {
      identity.generation += 1;
      identity.profileStatus = stuckAt;
    }
  }

  setDeviceBoots(serial: string, boots: boolean): void {
    this.bootOverride.set(normaliseSerial(serial), boots);
    const identity = this.findIdentityBySerial(serial);
    if (boots && identity && identity.profileStatus === 'assignedInSync' && identity.enrollmentState !== 'enrolled') {
      this.scheduleBoot(identity, this.clock.now() + this.draw(this.options.latencies.enrolmentSeconds));
    }
  }

  addOtherTenantSerial(serial: string): void {
    this.options.otherTenantSerials.add(normaliseSerial(serial));
  }

  /** Simulated milliseconds for a latency setting. */
  private draw(seconds: SimSeconds): number {
    const value = typeof seconds === 'number' ? seconds : this.random.between(seconds[0], seconds[1]);
    return Math.max(0, value) * 1000;
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Events ordered by simulated time (ties in scheduling order): a binary heap, as tens of thousands wait at once. */
class Timeline {
  private readonly heap: { at: number; seq: number; run: (at: number) => void }[] = [];
  private seq = 0;

  at(at: number, run: (at: number) => void): void {
    this.heap.push({ at, seq: this.seq++, run });
    let index = this.heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >>> 1;
      if (!this.before(index, parent)) break;
      this.swap(index, parent);
      index = parent;
    }
  }

  runDue(now: number): void {
    for (let next = this.heap[0]; next && next.at <= now; next = this.heap[0]) {
      this.pop();
      next.run(next.at);
    }
  }

  private pop(): void {
    const last = this.heap.pop();
    if (last === undefined || this.heap.length === 0) return;
    this.heap[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let first = index;
      if (left < this.heap.length && this.before(left, first)) first = left;
      if (right < this.heap.length && this.before(right, first)) first = right;
      if (first === index) return;
      this.swap(index, first);
      index = first;
    }
  }

  private before(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a]!;
    this.heap[a] = this.heap[b]!;
    this.heap[b] = x;
  }
}
