import { describe, expect, it } from 'vitest';
import { newDevice, type DeviceRecord } from '../../../../shared/domain/device.js';
import { pollWaitedOn } from '../../../../shared/services/pipeline/watched.js';
const at = new Date('2026-03-02T09:00:00.000Z');

function device(fields: Partial<DeviceRecord>): DeviceRecord {
  const { record } = newDevice(
    { serialNumber: 'S1', supplierId: 'contoso', batchId: 'b1', line: 2 },
    'received',
    'accepted-from-file',
    'corr',
    at,
  );
  return { ...record, ...fields };
}

describe('pollWaitedOn', () => {
  it('names the poll that watches each waiting device, as the polls select them', () => {
    expect(pollWaitedOn(device({ state: 'received' }))).toBeUndefined();
    expect(pollWaitedOn(device({ state: 'importing' }))).toBe('imports');
    // Stalled on its import: no poll keeps going for it; it waits for a re-drive.
    expect(pollWaitedOn(device({ state: 'stalled', waitingFor: 'import' }))).toBeUndefined();
    expect(pollWaitedOn(device({ state: 'stalled', waitingFor: 'reprovision', autopilotId: 'ap-1' }))).toBeUndefined();
    expect(pollWaitedOn(device({ state: 'registered', autopilotId: 'ap-1' }))).toBe('autopilot');
    expect(pollWaitedOn(device({ state: 'profile-assigned', autopilotId: 'ap-1' }))).toBe('autopilot');
    expect(pollWaitedOn(device({ state: 'stalled', waitingFor: 'profile-assignment', autopilotId: 'ap-1' }))).toBe('autopilot');
    expect(pollWaitedOn(device({ state: 'stalled', waitingFor: 'enrolment', autopilotId: 'ap-1' }))).toBe('autopilot');
    // The Autopilot poll skips devices without an Autopilot id: reviving it for them would do nothing.
    expect(pollWaitedOn(device({ state: 'registered', autopilotId: undefined }))).toBeUndefined();
    expect(
      pollWaitedOn(device({ state: 'enrolled', autopilotId: 'ap-1', groupTag: 'MPS-STD', autopilotGroupTag: 'MPS-STD' })),
    ).toBeUndefined();
    expect(
      pollWaitedOn(
        device({ state: 'enrolled', autopilotId: 'ap-1', groupTag: 'MPS-KIOSK', autopilotGroupTag: 'MPS-STD', waitingFor: 'group-tag' }),
      ),
    ).toBe('autopilot');
    expect(pollWaitedOn(device({ state: 'failed' }))).toBeUndefined();
  });
});
