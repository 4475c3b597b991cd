import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { newDevice, type DeviceRecord } from '../../shared/domain/device.js';
import { pollWaitedOn } from '../../shared/services/pipeline/watched.js';
import { requeueMessage } from '../../shared/messages/index.js';
import { sweeperPolicy } from '../../shared/policies.js';

const requeueMessageId = (devices: readonly { serialNumber: string; generation: number }[]): string =>
  requeueMessage(devices, 'corr').messageId;

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
    expect(pollWaitedOn(device({ state: 'stalled', waitingFor: 'import' }))).toBe('imports');
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

describe('requeueMessageId', () => {
  it('is the same for the same devices and generations in any order, and fits Service Bus', () => {
    const a = { serialNumber: 'PF3ABC12', generation: 1 };
    const b = { serialNumber: 'x'.repeat(128), generation: 2 };
    expect(requeueMessageId([a, b])).toBe(requeueMessageId([b, a]));
    expect(requeueMessageId([{ ...a, serialNumber: ' pf3abc12 ' }, b])).toBe(requeueMessageId([a, b]));
    expect(requeueMessageId([a, b])).not.toBe(requeueMessageId([{ ...a, generation: 2 }, b]));
    expect(requeueMessageId([a])).not.toBe(requeueMessageId([a, b]));
    expect(requeueMessageId([a, b]).length).toBeLessThanOrEqual(128);
  });
});

describe('sweeperPolicy', () => {
  const env = {
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection: 'Endpoint=sb://localhost/;SharedAccessKeyName=k;SharedAccessKey=v',
    REPROVISION_WEBHOOK_SECRET: 'x'.repeat(32),
    ZTP_SUPPLIERS: '[{"id":"contoso","name":"Contoso"}]',
  };

  it('waits ten first polls before re-queueing, scaled, but never less than a real minute', () => {
    expect(sweeperPolicy(loadConfig(env)).requeueAfterMs).toBe(10 * 60_000);
    expect(sweeperPolicy(loadConfig({ ...env, ZTP_TIME_SCALE: '600' })).requeueAfterMs).toBe(60_000);
    expect(sweeperPolicy(loadConfig({ ...env, ZTP_TIME_SCALE: '600' })).reviveDelayMs).toBe(100);
  });
});
