import { describe, expect, it } from 'vitest';
import type { BatchRecord } from '../../../shared/domain/batch.js';
import { countEntries, isListed } from '../../../shared/domain/batch-counts.js';
import { newDevice, transition, type DeviceRecord } from '../../../shared/domain/device.js';
import type { BatchDeviceEntry } from '../../../shared/services/ports.js';
import { publicDevice, publicEvent, summariseBatch } from '../../../shared/services/status.js';

const at = new Date('2026-03-02T09:00:00.000Z');
const UPN = 'jane.doe@contoso.example';
const HASH = 'T0gBAgAcAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

function device(serialNumber: string, line: number, fields: Partial<DeviceRecord> = {}): DeviceRecord {
  const { record } = newDevice(
    { serialNumber, supplierId: 'contoso', batchId: 'b1', line, hardwareHash: HASH, assignedUser: UPN },
    'received',
    'accepted-from-file',
    'corr',
    at,
  );
  return { ...record, ...fields };
}

describe('publicDevice and publicEvent', () => {
  it('drop the hardware hash and the UPN, and say whether a user is assigned', () => {
    const shown = publicDevice(device('S1', 2));
    expect(shown).not.toHaveProperty('hardwareHash');
    expect(shown).not.toHaveProperty('assignedUser');
    expect(shown.userAssigned).toBe(true);
    expect(shown.serialNumber).toBe('S1');
    expect(publicDevice(device('S2', 3, { assignedUser: undefined })).userAssigned).toBe(false);
  });

  it('show whose device it is: the owner, also for a record from before owners were recorded', () => {
    expect(publicDevice(device('S1', 2)).owner).toBe('contoso');
    expect(publicDevice(device('S1', 2))).not.toHaveProperty('ownerId');
    expect(publicDevice(device('S2', 3, { state: 'registered', ownerId: undefined })).owner).toBe('contoso');
    // Only ever in rejected rows: nobody's yet.
    expect(publicDevice(device('S3', 4, { state: 'rejected', ownerId: undefined, supplierId: 'fabrikam' })).owner).toBeUndefined();
  });

  it('show the open service-desk request, never who asked for it', () => {
    const request = {
      requestId: '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11',
      action: 'wipe' as const,
      ticket: 'INC7',
      requestedBy: 'Sam Desk',
      requestedAt: at.toISOString(),
      fromState: 'enrolled' as const,
      stage: 'sent' as const,
    };
    const open = publicDevice(device('S3', 4, { state: 'reprovisioning', reprovision: request }));
    expect(open.openRequest).toMatchObject({
      requestId: request.requestId,
      action: 'wipe',
      ticket: 'INC7',
      requestedAt: request.requestedAt,
    });
    expect(JSON.stringify(open)).not.toContain('Sam Desk');
    const closed = publicDevice(device('S4', 5, { state: 'enrolled', reprovision: { ...request, stage: 'done' } }));
    expect(closed.openRequest).toBeUndefined();
    expect(closed.reprovision).toMatchObject({ stage: 'done' });
    expect(JSON.stringify(closed)).not.toContain('Sam Desk');
  });

  it('strip sensitive keys from event details whoever wrote them', () => {
    const { event } = transition(device('S1', 2), {
      to: 'importing',
      reason: 'import-submitted',
      correlationId: 'c',
      now: at,
      detail: { importId: 'ztp-1', assignedUserPrincipalName: UPN, hardwareIdentifier: HASH, requestedBy: 'desk@contoso.example' },
    });
    const shown = publicEvent(event);
    expect(shown.detail).toEqual({ importId: 'ztp-1' });
    expect(JSON.stringify(shown)).not.toContain(UPN);
    expect(publicEvent({ ...event, detail: undefined }).detail).toBeUndefined();
  });
});

describe('summariseBatch', () => {
  const batch = { batchId: 'b1', status: 'complete' } as BatchRecord;
  /** A file's entries as the index keeps them: the accepted devices counted, the rejected rows and attention cases listed. */
  const summarise = async (entries: readonly BatchDeviceEntry[]) => summariseBatch(batch, countEntries(entries), entries.filter(isListed));

  it('counts devices per current state and lists rejected, failed and stalled ones in file order', async () => {
    const devices = [
      device('S4', 9, { state: 'failed', reasons: ['owned-by-other-tenant'], note: 'registered in another tenant' }),
      device('S1', 2),
      device('S3', 5, { state: 'rejected', reasons: ['invalid-hash'] }),
      device('S2', 3, { state: 'enrolled' }),
      device('S5', 5, { state: 'stalled', reasons: [] }),
    ];
    const entries = devices.map((record): BatchDeviceEntry => ({ ...record, accepted: record.state !== 'rejected', movedTo: undefined }));
    const summary = await summarise(entries);
    expect(summary.devices).toEqual({ total: 5, byState: { received: 1, enrolled: 1, rejected: 1, failed: 1, stalled: 1 } });
    expect(summary.rejects.map((reject) => [reject.line, reject.serialNumber, reject.state])).toEqual([
      [5, 'S3', 'rejected'],
      [5, 'S5', 'stalled'],
      [9, 'S4', 'failed'],
    ]);
    expect(summary.rejects[2]).toEqual({
      serialNumber: 'S4',
      line: 9,
      state: 'failed',
      reasons: ['owned-by-other-tenant'],
      note: 'registered in another tenant',
    });
    expect(JSON.stringify(summary)).not.toContain(UPN);
  });

  it('counts every rejected row of the file as rejected, also one whose device a later file took since, and each row once', async () => {
    const entry = (serialNumber: string, line: number, fields: Partial<BatchDeviceEntry> = {}): BatchDeviceEntry => ({
      serialNumber,
      line,
      state: 'received',
      reasons: [],
      note: undefined,
      waitingFor: undefined,
      eventCount: 1,
      accepted: true,
      movedTo: undefined,
      ...fields,
    });
    const rejectedRow = (serialNumber: string, line: number, reasons: string[], fields: Partial<BatchDeviceEntry> = {}) =>
      entry(serialNumber, line, { state: 'rejected', accepted: false, reasons, ...fields });
    const summary = await summarise([
      entry('S1', 2),
      // Accepted here, taken by a later file: moved.
      entry('S2', 3, { state: 'importing', movedTo: 'b2' }),
      // Rejected here, taken by a later file: still a rejected row of this one.
      rejectedRow('S3', 4, ['invalid-hash'], { movedTo: 'b2' }),
      rejectedRow('', 5, ['missing-serial'], { eventCount: 0 }),
      rejectedRow('S1', 6, ['duplicate-in-file'], { eventCount: 0 }),
      // The same row once more: its device's entry moved, then a re-run of the file wrote its own.
      rejectedRow('S3', 4, ['invalid-hash'], { eventCount: 0 }),
    ]);
    expect(summary.devices).toEqual({ total: 4, byState: { received: 1, rejected: 3 } });
    expect(summary.moved).toBe(1);
    expect(summary.rejects.map((reject) => [reject.line, reject.serialNumber, reject.reasons])).toEqual([
      [4, 'S3', ['invalid-hash']],
      [5, '', ['missing-serial']],
      [6, 'S1', ['duplicate-in-file']],
    ]);
  });

  it('is empty for a batch without devices', async () => {
    expect(await summarise([])).toEqual({ batch, devices: { total: 0, byState: {} }, waitingFor: {}, moved: 0, rejects: [] });
  });
});
