import { AutopilotSync, type SyncOutcome } from './autopilot-sync.js';
import type { SimClock } from './clock.js';
import { IdentityRegistry, type DeviceProperties, type IdentityDeleteOutcome, type NewIdentity } from './identities.js';
import { Importer, type ImportedRecord, type ImportInput } from './imports.js';
import { ManagedDeviceLifecycle, type WipeParameters } from './managed-devices.js';
import type { ResolvedOptions } from './options.js';
import { ProfileAssignment, type ProfileBlock } from './profile-assignment.js';
import type { Random } from './random.js';
import type { AutopilotIdentity, ManagedDevice } from './records.js';
import { Timeline } from './timeline.js';

/**
 * The tenant the simulator pretends to be: imported records, Autopilot identities, Intune
 * managed devices, and the timeline that moves them. Nothing happens on timers: every read
 * first runs the events that are due at the simulated now, so the state is a pure function
 * of the requests made and the clock.
 *
 * The records are held here, where the routes and the introspection calls read them; each
 * part gets the records it changes and the ones it only looks at.
 */
export class Tenant {
  readonly imported = new Map<string, ImportedRecord>();
  readonly identities = new Map<string, AutopilotIdentity>();
  readonly managedDevices = new Map<string, ManagedDevice>();
  private readonly timeline: Timeline;
  private readonly devices: ManagedDeviceLifecycle;
  private readonly profiles: ProfileAssignment;
  private readonly registry: IdentityRegistry;
  private readonly importer: Importer;
  private readonly settings: AutopilotSync;

  constructor(clock: SimClock, random: Random, options: ResolvedOptions) {
    this.timeline = new Timeline(clock, random);
    this.devices = new ManagedDeviceLifecycle(this.managedDevices, this.identities, this.timeline, options);
    this.profiles = new ProfileAssignment(this.identities, this.devices, this.timeline, options);
    this.registry = new IdentityRegistry(this.identities, this.managedDevices, this.profiles, this.timeline, options);
    this.importer = new Importer(this.imported, this.registry, this.timeline, options);
    this.settings = new AutopilotSync(this.timeline, options);
  }

  /** Runs everything that is due by the simulated now. */
  catchUp(): void {
    this.timeline.runDue();
  }

  importDevices(inputs: ImportInput[]): ImportedRecord[] {
    return this.importer.importDevices(inputs);
  }

  importsBySerial(): Record<string, number> {
    return this.importer.importsBySerial();
  }

  deleteImported(id: string): boolean {
    return this.importer.delete(id);
  }

  createIdentity(fields: NewIdentity, at: number): AutopilotIdentity {
    return this.registry.create(fields, at);
  }

  findIdentityBySerial(serial: string): AutopilotIdentity | undefined {
    return this.registry.findBySerial(serial);
  }

  updateDeviceProperties(id: string, properties: DeviceProperties): boolean {
    return this.registry.updateDeviceProperties(id, properties);
  }

  deleteIdentity(id: string): IdentityDeleteOutcome {
    return this.registry.delete(id);
  }

  findManagedDevicesBySerial(serial: string): ManagedDevice[] {
    return this.devices.findBySerial(serial);
  }

  wipe(id: string, parameters: WipeParameters): boolean {
    return this.devices.wipe(id, parameters);
  }

  retire(id: string): boolean {
    return this.devices.retire(id);
  }

  cleanWindowsDevice(id: string): boolean {
    return this.devices.cleanWindowsDevice(id);
  }

  deleteManagedDevice(id: string): boolean {
    return this.devices.delete(id);
  }

  sync(): SyncOutcome {
    return this.settings.sync();
  }

  syncState(): { lastSyncAt: number | undefined; running: boolean } {
    return this.settings.state();
  }

  // ---- controls for tests ----

  blockProfileAssignment(serial: string, stuckAt: ProfileBlock): void {
    this.profiles.block(serial, stuckAt, this.registry.findBySerial(serial));
  }

  setDeviceBoots(serial: string, boots: boolean): void {
    this.devices.setDeviceBoots(serial, boots, this.registry.findBySerial(serial));
  }

  addOtherTenantSerial(serial: string): void {
    this.importer.addOtherTenantSerial(serial);
  }
}
