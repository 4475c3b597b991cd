import type { GraphSimulator } from '../../local/graph-simulator/index.js';
import { newDevice, transition, type DeviceRecord } from '../../shared/domain/device.js';
import type { DeviceState } from '../../shared/domain/lifecycle.js';
import type { DeviceRepository } from '../../shared/adapters/tables/device-repository.js';

/**
 * Enrolled devices without going through a supplier file: each is registered in the simulated
 * Autopilot directly (as if imported long ago), the simulator's clock is moved on past
 * enrolment once for all of them, and each gets the record the pipeline would have written —
 * created `received` and moved along the lifecycle to `enrolled`, one guarded write per step.
 */

export interface SeededDevice {
  readonly serial: string;
  readonly autopilotId: string;
  readonly managedDeviceId: string;
}

const PATH: readonly DeviceState[] = ['importing', 'registered', 'profile-assigned', 'enrolled'];
/** Simulated seconds from registration to enrolment at the simulator's longest latencies (group 360 + profile 660 + enrolment 1,800), with margin. */
const ENROLLED_AFTER_SECONDS = 50 * 60;
const WRITERS = 16;

export async function seedEnrolledDevices(
  sim: GraphSimulator,
  devices: Pick<DeviceRepository, 'create' | 'save'>,
  serials: readonly string[],
): Promise<SeededDevice[]> {
  const ids = new Map(serials.map((serial) => [serial, sim.addAutopilotIdentity({ serialNumber: serial, groupTag: 'MPS-STD' }).id]));
  sim.clock.advance(ENROLLED_AFTER_SECONDS);
  const managed = new Map(sim.autopilotIdentities().map((identity) => [identity.id, identity.managedDeviceId]));
  const seeded = serials.map((serial) => {
    const autopilotId = ids.get(serial)!;
    const managedDeviceId = managed.get(autopilotId);
    if (typeof managedDeviceId !== 'string' || managedDeviceId === '' || /^0{8}-/.test(managedDeviceId)) {
      throw new Error(`seeding: ${serial} did not enrol in the simulator`);
    }
    return { serial, autopilotId, managedDeviceId };
  });

  let next = 0;
  const writer = async (): Promise<void> => {
    for (let i = next++; i < seeded.length; i = next++) await writeRecord(devices, seeded[i]!);
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
  return seeded;
}

async function writeRecord(devices: Pick<DeviceRepository, 'create' | 'save'>, device: SeededDevice): Promise<void> {
  const now = new Date();
  const first = newDevice(
    { serialNumber: device.serial, supplierId: 'contoso', batchId: 'bench-webhook', line: 2, groupTag: 'MPS-STD' },
    'received',
    'accepted-from-file',
    'bench-seed',
    now,
  );
  let saved = await devices.create(first.record, first.event);
  for (const to of PATH) {
    const changes: Partial<DeviceRecord> = {
      ...(to === 'registered' ? { autopilotId: device.autopilotId, autopilotGroupTag: 'MPS-STD' } : {}),
      ...(to === 'enrolled' ? { managedDeviceId: device.managedDeviceId } : {}),
    };
    const step = transition(saved.value, { to, reason: 'import-complete', correlationId: 'bench-seed', now, changes });
    saved = await devices.save(step.record, saved, step.event);
  }
}
