import { describe, expect, it } from 'vitest';
import type { ImportState } from '../../../shared/domain/autopilot-outcomes.js';
import { newDevice, type DeviceRecord } from '../../../shared/domain/device.js';
import { DEVICE_STATES, type WaitStep } from '../../../shared/domain/lifecycle.js';
import { decideImportRedrive, planRedrive, stageToResume, type ImportRedrive, type RedrivePlan } from '../../../shared/domain/redrive.js';
import type { ReprovisionRequest, ReprovisionStage } from '../../../shared/domain/reprovision-request.js';

/*
 * What a re-drive does for a stalled device, by the step it stalled on; and, for one stalled on
 * its import, what each thing Autopilot may show of it means. The import states and error codes
 * are the ones graph-autopilot.md documents.
 */

const at = new Date('2026-03-02T09:00:00.000Z');

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

const request = (fields: Partial<ReprovisionRequest> = {}): ReprovisionRequest => ({
  requestId: '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11',
  action: 'wipe',
  ticket: 'INC1',
  requestedBy: 'desk',
  requestedAt: at.toISOString(),
  fromState: 'enrolled',
  stage: 'stalled',
  ...fields,
});

describe('planRedrive', () => {
  it.each(DEVICE_STATES.filter((state) => state !== 'stalled'))('leaves a device that is %s alone', (state) => {
    expect(planRedrive(device({ state, waitingFor: 'import', autopilotId: 'ap-1' }))).toEqual({ kind: 'not-stalled' });
  });

  it.each<[string, Partial<DeviceRecord>, RedrivePlan]>([
    ['stalled on its import', { waitingFor: 'import', importId: 'ztp-1' }, { kind: 'check-autopilot' }],
    // A record from before waitingFor was kept: where it is, Autopilot says.
    ['stalled on nothing recorded', { waitingFor: undefined }, { kind: 'check-autopilot' }],
    [
      'stalled on its profile',
      { waitingFor: 'profile-assignment', autopilotId: 'ap-1' },
      { kind: 'resume-autopilot', to: 'registered', waitingFor: 'profile-assignment' },
    ],
    [
      'stalled on its group tag',
      { waitingFor: 'group-tag', autopilotId: 'ap-1' },
      { kind: 'resume-autopilot', to: 'registered', waitingFor: 'group-tag' },
    ],
    [
      'stalled on its enrolment',
      { waitingFor: 'enrolment', autopilotId: 'ap-1' },
      { kind: 'resume-autopilot', to: 'profile-assigned', waitingFor: 'enrolment' },
    ],
    // The Autopilot poll reads devices by their Autopilot id: without one, Autopilot is asked by serial.
    ['stalled on its profile without an Autopilot id', { waitingFor: 'profile-assignment' }, { kind: 'check-autopilot' }],
    [
      'stalled on a request whose call was answered',
      { waitingFor: 'reprovision', autopilotId: 'ap-1', reprovision: request({ stalledStage: 'sent', sentAt: at.toISOString() }) },
      { kind: 'resume-request', stage: 'sent', follow: 'poll' },
    ],
    [
      'stalled on a deregistration whose managed device is gone',
      {
        waitingFor: 'reprovision',
        autopilotId: 'ap-1',
        reprovision: request({ action: 'deregister', stalledStage: 'managed-device-deleted' }),
      },
      { kind: 'resume-request', stage: 'managed-device-deleted', follow: 'poll' },
    ],
    [
      'stalled on a request no worker started',
      { waitingFor: 'reprovision', autopilotId: 'ap-1', reprovision: request({ stalledStage: 'accepted' }) },
      { kind: 'resume-request', stage: 'accepted', follow: 'worker' },
    ],
    [
      'stalled on a request whose action was about to be sent',
      { waitingFor: 'reprovision', autopilotId: 'ap-1', reprovision: request({ stalledStage: 'sending', actionBaseline: 'none' }) },
      { kind: 'resume-request', stage: 'sending', follow: 'worker' },
    ],
  ])('%s', (_, fields, plan) => {
    expect(planRedrive(device({ state: 'stalled', ...fields }))).toEqual(plan);
  });
});

describe('stageToResume: the stage a stalled request is taken up again at', () => {
  it.each<[string, Partial<ReprovisionRequest>, ReprovisionStage]>([
    ['the stage it stalled in', { stalledStage: 'managed-device-deleted' }, 'managed-device-deleted'],
    // Stalled before the stage was recorded: what the request carries says how far it got.
    ['an answered call', { sentAt: at.toISOString(), actionBaseline: 'none' }, 'sent'],
    ['an action about to be sent: the worker looks before sending again', { actionBaseline: '2026-03-01T10:00:00Z' }, 'sending'],
    ['nothing sent', {}, 'accepted'],
    // A recorded stage that is no stage to work from is read from the request instead.
    ['a recorded end stage', { stalledStage: 'done', sentAt: at.toISOString() }, 'sent'],
  ])('%s', (_, fields, stage) => {
    expect(stageToResume(request(fields))).toBe(stage);
  });
});

const record = (state: Partial<ImportState> & { deviceImportStatus: string }): { state: ImportState } => ({ state });
const identity = { id: 'ap-found' };

describe('decideImportRedrive', () => {
  it.each<[string, { state: ImportState } | undefined, { id: string } | null | undefined, ImportRedrive]>([
    // Nothing settles it yet: Autopilot is asked for the serial before anything is submitted.
    ['no record, not looked for yet', undefined, undefined, { kind: 'find-by-serial' }],
    ['no record, and Autopilot has no such serial', undefined, null, { kind: 'resubmit', outcome: 'not-in-autopilot' }],
    // Its record was cleaned up, or it was registered before its file came: reconciled as an 806.
    [
      'no record, but Autopilot has the serial',
      undefined,
      identity,
      { kind: 'register', outcome: 'already-registered', autopilotId: 'ap-found' },
    ],
    ['a record still pending', record({ deviceImportStatus: 'pending' }), undefined, { kind: 'wait', outcome: 'import-pending' }],
    ['a record in an unknown state', record({ deviceImportStatus: 'unknown' }), undefined, { kind: 'wait', outcome: 'import-pending' }],
    [
      'a complete record naming its identity',
      record({ deviceImportStatus: 'complete', deviceRegistrationId: 'ap-new' }),
      undefined,
      { kind: 'register', outcome: 'import-complete', autopilotId: 'ap-new' },
    ],
    ['a complete record naming none', record({ deviceImportStatus: 'complete' }), undefined, { kind: 'find-by-serial' }],
    [
      'a complete record naming none, the identity found',
      record({ deviceImportStatus: 'complete' }),
      identity,
      { kind: 'register', outcome: 'import-complete', autopilotId: 'ap-found' },
    ],
    [
      'a complete record naming none, no identity yet',
      record({ deviceImportStatus: 'complete' }),
      null,
      { kind: 'wait', outcome: 'identity-not-found' },
    ],
    [
      'an 806',
      record({ deviceImportStatus: 'error', deviceErrorCode: 806, deviceErrorName: 'ZtdDeviceAlreadyAssigned' }),
      undefined,
      { kind: 'find-by-serial' },
    ],
    [
      'an 806, the identity found',
      record({ deviceImportStatus: 'error', deviceErrorCode: 806, deviceErrorName: 'ZtdDeviceAlreadyAssigned' }),
      identity,
      { kind: 'register', outcome: 'already-registered', autopilotId: 'ap-found', code: '806 ZtdDeviceAlreadyAssigned' },
    ],
    // Autopilot says it has the device: submitting it again would only be another 806. The poll keeps looking.
    [
      'an 806 whose identity is still not found',
      record({ deviceImportStatus: 'error', deviceErrorCode: 806, deviceErrorName: 'ZtdDeviceAlreadyAssigned' }),
      null,
      { kind: 'wait', outcome: 'identity-not-found' },
    ],
    [
      'a StorageError',
      record({ deviceImportStatus: 'error', deviceErrorCode: 640, deviceErrorName: 'StorageError' }),
      undefined,
      { kind: 'find-by-serial' },
    ],
    [
      'a StorageError, and Autopilot has no such serial',
      record({ deviceImportStatus: 'error', deviceErrorCode: 640, deviceErrorName: 'StorageError' }),
      null,
      { kind: 'resubmit', outcome: 'import-retry', code: '640 StorageError' },
    ],
    [
      'an 808',
      record({ deviceImportStatus: 'error', deviceErrorCode: 808, deviceErrorName: 'ZtdDeviceAssignedToOtherTenant' }),
      undefined,
      { kind: 'fail', outcome: 'owned-by-other-tenant', code: '808 ZtdDeviceAssignedToOtherTenant' },
    ],
    [
      'an 802',
      record({ deviceImportStatus: 'error', deviceErrorCode: 802, deviceErrorName: 'InvalidZtdHardwareHash' }),
      undefined,
      { kind: 'fail', outcome: 'autopilot-rejected-hash', code: '802 InvalidZtdHardwareHash' },
    ],
  ])('%s', (_, found, seen, decision) => {
    expect(decideImportRedrive(found, seen)).toEqual(decision);
  });

  it('never submits a device again that Autopilot has, whatever its record says', () => {
    const records = [
      undefined,
      ...['pending', 'complete', 'error'].flatMap((status) =>
        [0, 640, 802, 806, 808].map((code) => record({ deviceImportStatus: status, deviceErrorCode: code })),
      ),
    ];
    for (const found of records) expect(decideImportRedrive(found, identity).kind).not.toBe('resubmit');
  });
});

// Every step a device can stall on has a way back.
it.each<WaitStep>(['import', 'group-tag', 'profile-assignment', 'enrolment', 'reprovision'])(
  'a device stalled on %s can be re-driven',
  (step) => {
    const stalled = device({
      state: 'stalled',
      waitingFor: step,
      autopilotId: 'ap-1',
      reprovision: step === 'reprovision' ? request() : undefined,
    });
    expect(planRedrive(stalled).kind).not.toBe('not-stalled');
  },
);
