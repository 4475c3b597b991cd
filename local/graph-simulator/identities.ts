import { randomUUID } from 'node:crypto';
import { normaliseSerial, type ResolvedOptions } from './options.js';
import type { ProfileAssignment } from './profile-assignment.js';
import type { AutopilotIdentity, ManagedDevice } from './records.js';
import type { Timeline } from './timeline.js';

export type NewIdentity = Pick<
  AutopilotIdentity,
  'serialNumber' | 'groupTag' | 'productKey' | 'userPrincipalName' | 'manufacturer' | 'model'
>;
export type DeviceProperties = Partial<Record<'groupTag' | 'displayName' | 'userPrincipalName' | 'addressableUserName', string>>;
export type IdentityDeleteOutcome = 'deleted' | 'not-found' | 'enrolled';

/** `windowsAutopilotDeviceIdentities`: the devices registered in the tenant. */
export class IdentityRegistry {
  /** Identities by normalised serial, in creation order: an import must not scan them all. */
  private readonly bySerial = new Map<string, Set<AutopilotIdentity>>();

  constructor(
    private readonly identities: Map<string, AutopilotIdentity>,
    private readonly managedDevices: ReadonlyMap<string, ManagedDevice>,
    private readonly profiles: ProfileAssignment,
    private readonly timeline: Timeline,
    private readonly options: ResolvedOptions,
  ) {}

  create(fields: NewIdentity, at: number): AutopilotIdentity {
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
    const sameSerial = this.bySerial.get(serial) ?? new Set<AutopilotIdentity>();
    this.bySerial.set(serial, sameSerial.add(identity));
    this.profiles.groupTagChanged(identity, at);
    return identity;
  }

  findBySerial(serial: string): AutopilotIdentity | undefined {
    const [first] = this.bySerial.get(normaliseSerial(serial)) ?? [];
    return first;
  }

  updateDeviceProperties(id: string, properties: DeviceProperties): boolean {
    const identity = this.identities.get(id);
    if (!identity) return false;
    const tagChanged = properties.groupTag !== undefined && properties.groupTag !== identity.groupTag;
    if (properties.groupTag !== undefined) identity.groupTag = properties.groupTag;
    if (properties.displayName !== undefined) identity.displayName = properties.displayName;
    if (properties.userPrincipalName !== undefined) identity.userPrincipalName = properties.userPrincipalName;
    if (properties.addressableUserName !== undefined) identity.addressableUserName = properties.addressableUserName;
    if (tagChanged) this.profiles.groupTagChanged(identity, this.timeline.now());
    return true;
  }

  /** Refused while a managed device exists: the delete is documented only for devices not enrolled in Intune. */
  delete(id: string): IdentityDeleteOutcome {
    const identity = this.identities.get(id);
    if (!identity || identity.deleting) return 'not-found';
    if (identity.managedDeviceId !== undefined && this.managedDevices.has(identity.managedDeviceId)) return 'enrolled';
    identity.generation += 1;
    const delayMs = this.timeline.draw(this.options.latencies.identityDeletionSeconds);
    if (delayMs <= 0) {
      this.remove(identity);
    } else {
      identity.deleting = true;
      this.timeline.at(this.timeline.now() + delayMs, () => this.remove(identity));
    }
    return 'deleted';
  }

  private remove(identity: AutopilotIdentity): void {
    this.identities.delete(identity.id);
    const serial = normaliseSerial(identity.serialNumber);
    const sameSerial = this.bySerial.get(serial);
    sameSerial?.delete(identity);
    if (sameSerial?.size === 0) this.bySerial.delete(serial);
  }
}
