import { describe, expect, it } from 'vitest';
import { statusText } from '../../../../cli/commands/status.js';
import { newDevice, type DeviceRecord } from '../../../../shared/domain/device.js';
import { publicDevice } from '../../../../shared/services/status.js';

const at = new Date('2026-03-02T09:00:00.000Z');
const request = {
  requestId: '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11',
  action: 'retag' as const,
  groupTag: 'MPS-KIOSK',
  ticket: 'INC7',
  requestedBy: 'Sam Desk',
  requestedAt: at.toISOString(),
  fromState: 'enrolled' as const,
  stage: 'sent' as const,
};

function device(fields: Partial<DeviceRecord>): DeviceRecord {
  const { record } = newDevice(
    { serialNumber: 'S1', supplierId: 'contoso', batchId: 'b1', line: 2 },
    'received',
    'accepted-from-file',
    'c',
    at,
  );
  return { ...record, ...fields };
}

describe('ztp status: the service-desk request', () => {
  it('shows the open request with its ticket, id, time and stage, never who asked', () => {
    const text = statusText(publicDevice(device({ state: 'reprovisioning', reprovision: request })), []);
    expect(text).toMatch(
      /open request: +retag to MPS-KIOSK \(ticket INC7, request 6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11, asked 2026-03-02T09:00:00.000Z, sent\)/,
    );
    expect(text).not.toContain('Sam Desk');
  });

  it('shows the last request once it has ended, with why it failed', () => {
    const text = statusText(
      publicDevice(device({ state: 'enrolled', reprovision: { ...request, stage: 'failed', failure: 'not-in-autopilot' } })),
      [],
    );
    expect(text).not.toContain('open request');
    expect(text).toMatch(/last request: +retag to MPS-KIOSK .*failed\), not-in-autopilot/);
  });
});

describe('ztp status: whose device it is', () => {
  it('shows the owner and the supplier of the latest file', () => {
    const text = statusText(publicDevice(device({ state: 'enrolled' })), []);
    expect(text).toMatch(/\n {2}owner: +contoso\n/);
    expect(text).toMatch(/\n {2}supplier: +contoso\n/);
  });

  it('says a serial only seen in rejected rows has no owner yet', () => {
    const text = statusText(publicDevice(device({ state: 'rejected', ownerId: undefined, supplierId: 'fabrikam' })), []);
    expect(text).toMatch(/owner: +none yet \(no accepted row\)/);
    expect(text).toMatch(/supplier: +fabrikam/);
  });
});
