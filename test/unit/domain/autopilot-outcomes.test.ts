import { describe, expect, it } from 'vitest';
import {
  interpretImport,
  isEnrolled,
  isProfileAssigned,
  isProfileAssignmentFailed,
  type ImportOutcome,
  type ImportState,
} from '../../../shared/domain/autopilot-outcomes.js';

/*
 * Each rule as the product's Graph notes state it (graph-autopilot.md, "Import" and
 * "Registered devices"), with the reason codes of the product contract. An error record is given the
 * status Autopilot reports with it (`error`) unless the row says otherwise.
 */

const failed = (reason: 'owned-by-other-tenant' | 'autopilot-rejected-hash' | 'autopilot-error', code: string): ImportOutcome => ({
  kind: 'failed',
  reason,
  code,
});

describe('interpretImport: still running', () => {
  it.each<[string, ImportState]>([
    ['unknown', { deviceImportStatus: 'unknown' }],
    ['pending', { deviceImportStatus: 'pending' }],
    ['Pending', { deviceImportStatus: 'Pending' }],
    ['UNKNOWN', { deviceImportStatus: 'UNKNOWN' }],
    // The import request itself sends pending with a zeroed error: nothing is decided yet.
    ['pending with an error code', { deviceImportStatus: 'pending', deviceErrorCode: 806, deviceErrorName: 'ZtdDeviceAlreadyAssigned' }],
    ['unknown with StorageError', { deviceImportStatus: 'unknown', deviceErrorCode: 640, deviceErrorName: 'StorageError' }],
  ])('%s is pending', (_label, state) => {
    expect(interpretImport(state)).toEqual({ kind: 'pending' });
  });
});

describe('interpretImport: complete', () => {
  it('carries the new identity id from deviceRegistrationId', () => {
    expect(
      interpretImport({ deviceImportStatus: 'complete', deviceRegistrationId: 'ap-123', deviceErrorCode: 0, deviceErrorName: '' }),
    ).toEqual({
      kind: 'registered',
      autopilotId: 'ap-123',
    });
  });

  it.each<[string, ImportState]>([
    ['no registration id', { deviceImportStatus: 'complete' }],
    ['an empty registration id', { deviceImportStatus: 'complete', deviceRegistrationId: '' }],
  ])('with %s is registered, identity still to be found', (_label, state) => {
    expect(interpretImport(state)).toEqual({ kind: 'registered', autopilotId: undefined });
  });

  it.each([['Complete'], ['COMPLETE']])('reads the status %s without regard to case', (status) => {
    expect(interpretImport({ deviceImportStatus: status, deviceRegistrationId: 'ap-9' })).toEqual({
      kind: 'registered',
      autopilotId: 'ap-9',
    });
  });

  it('keeps the registration when the error code is one no rule knows', () => {
    expect(interpretImport({ deviceImportStatus: 'complete', deviceRegistrationId: 'ap-7', deviceErrorCode: 999 })).toEqual({
      kind: 'registered',
      autopilotId: 'ap-7',
    });
  });
});

describe('interpretImport: error codes and names', () => {
  it.each<[string, ImportState, ImportOutcome]>([
    // 806: already registered in this tenant — reconciled, not a failure.
    ['806 by code', { deviceImportStatus: 'error', deviceErrorCode: 806 }, { kind: 'already-registered', code: '806' }],
    [
      '806 by code and name',
      { deviceImportStatus: 'error', deviceErrorCode: 806, deviceErrorName: 'ZtdDeviceAlreadyAssigned' },
      { kind: 'already-registered', code: '806 ZtdDeviceAlreadyAssigned' },
    ],
    [
      'ZtdDeviceAlreadyAssigned by name',
      { deviceImportStatus: 'error', deviceErrorName: 'ZtdDeviceAlreadyAssigned' },
      { kind: 'already-registered', code: '0 ZtdDeviceAlreadyAssigned' },
    ],
    [
      '806 on a complete record',
      { deviceImportStatus: 'complete', deviceErrorCode: 806, deviceErrorName: 'ZtdDeviceAlreadyAssigned' },
      { kind: 'already-registered', code: '806 ZtdDeviceAlreadyAssigned' },
    ],
    // ZtdDeviceDuplicated: the same hash twice in one request, one of them processed.
    [
      'ZtdDeviceDuplicated by name',
      { deviceImportStatus: 'error', deviceErrorName: 'ZtdDeviceDuplicated' },
      { kind: 'already-registered', code: '0 ZtdDeviceDuplicated' },
    ],
    // 808: owned by another tenant, spelled two ways in Microsoft's docs.
    ['808 by code', { deviceImportStatus: 'error', deviceErrorCode: 808 }, failed('owned-by-other-tenant', '808')],
    [
      'ZtdDeviceAssignedToOtherTenant by name',
      { deviceImportStatus: 'error', deviceErrorName: 'ZtdDeviceAssignedToOtherTenant' },
      failed('owned-by-other-tenant', '0 ZtdDeviceAssignedToOtherTenant'),
    ],
    [
      'ZtdDeviceAssignedToAnotherTenant by name',
      { deviceImportStatus: 'error', deviceErrorName: 'ZtdDeviceAssignedToAnotherTenant' },
      failed('owned-by-other-tenant', '0 ZtdDeviceAssignedToAnotherTenant'),
    ],
    [
      '808 by code and name',
      { deviceImportStatus: 'error', deviceErrorCode: 808, deviceErrorName: 'ZtdDeviceAssignedToOtherTenant' },
      failed('owned-by-other-tenant', '808 ZtdDeviceAssignedToOtherTenant'),
    ],
    // 802: Autopilot refused the hardware hash.
    ['802 by code', { deviceImportStatus: 'error', deviceErrorCode: 802 }, failed('autopilot-rejected-hash', '802')],
    [
      'InvalidZtdHardwareHash by name',
      { deviceImportStatus: 'error', deviceErrorName: 'InvalidZtdHardwareHash' },
      failed('autopilot-rejected-hash', '0 InvalidZtdHardwareHash'),
    ],
    // StorageError (community: 640): transient, try again later.
    ['640 by code', { deviceImportStatus: 'error', deviceErrorCode: 640 }, { kind: 'retry', code: '640' }],
    ['StorageError by name', { deviceImportStatus: 'error', deviceErrorName: 'StorageError' }, { kind: 'retry', code: '0 StorageError' }],
    [
      'StorageError on a complete record',
      { deviceImportStatus: 'complete', deviceErrorCode: 640, deviceErrorName: 'StorageError' },
      { kind: 'retry', code: '640 StorageError' },
    ],
    // Documented errors with no rule of their own, and anything else: a human looks.
    [
      '803 MissingZtdSerialNumberAndProductKey',
      { deviceImportStatus: 'error', deviceErrorCode: 803, deviceErrorName: 'MissingZtdSerialNumberAndProductKey' },
      failed('autopilot-error', '803 MissingZtdSerialNumberAndProductKey'),
    ],
    [
      '801 InvalidZtdRequestBody',
      { deviceImportStatus: 'error', deviceErrorCode: 801, deviceErrorName: 'InvalidZtdRequestBody' },
      failed('autopilot-error', '801 InvalidZtdRequestBody'),
    ],
    ['an unknown code', { deviceImportStatus: 'error', deviceErrorCode: 12345 }, failed('autopilot-error', '12345')],
    ['error without any code', { deviceImportStatus: 'error' }, failed('autopilot-error', '0')],
    // partial is finished (not in progress) but is no success the docs describe.
    ['partial without a code', { deviceImportStatus: 'partial' }, failed('autopilot-error', '0')],
    ['partial with 808', { deviceImportStatus: 'partial', deviceErrorCode: 808 }, failed('owned-by-other-tenant', '808')],
  ])('%s', (_label, state, outcome) => {
    expect(interpretImport(state)).toEqual(outcome);
  });

  it.each([
    ['ztddevicealreadyassigned', 'already-registered'],
    ['ZTDDEVICEDUPLICATED', 'already-registered'],
    ['ztdDeviceAssignedToOtherTenant', 'owned-by-other-tenant'],
    ['ZTDDEVICEASSIGNEDTOANOTHERTENANT', 'owned-by-other-tenant'],
    ['invalidztdhardwarehash', 'autopilot-rejected-hash'],
    ['STORAGEERROR', 'retry'],
  ])('matches the error name %s without regard to case, and reports it as given', (name, expected) => {
    const outcome = interpretImport({ deviceImportStatus: 'Error', deviceErrorName: name });
    expect(outcome.kind === 'failed' ? outcome.reason : outcome.kind).toBe(expected);
    expect(outcome).toHaveProperty('code', `0 ${name}`);
  });
});

describe('profile assignment', () => {
  it.each([
    ['assignedInSync', true],
    ['assignedOutOfSync', true],
    // Graph's own spelling (sic), and the corrected one should Microsoft fix it.
    ['assignedUnkownSyncState', true],
    ['assignedUnknownSyncState', true],
    ['ASSIGNEDINSYNC', true],
    ['AssignedOutOfSync', true],
    ['unknown', false],
    ['notAssigned', false],
    ['pending', false],
    ['failed', false],
    ['', false],
    [undefined, false],
  ] as const)('isProfileAssigned(%j) is %s', (status, expected) => {
    expect(isProfileAssigned(status)).toBe(expected);
  });

  it.each([
    ['failed', true],
    ['Failed', true],
    ['FAILED', true],
    ['notAssigned', false],
    ['pending', false],
    ['assignedInSync', false],
    ['', false],
    [undefined, false],
  ] as const)('isProfileAssignmentFailed(%j) is %s', (status, expected) => {
    expect(isProfileAssignmentFailed(status)).toBe(expected);
  });
});

describe('isEnrolled', () => {
  it.each([
    ['enrolled', true],
    ['Enrolled', true],
    ['ENROLLED', true],
    ['unknown', false],
    ['pendingReset', false],
    ['failed', false],
    ['notContacted', false],
    ['blocked', false],
    ['', false],
    [undefined, false],
  ] as const)('isEnrolled(%j) is %s', (state, expected) => {
    expect(isEnrolled(state)).toBe(expected);
  });
});
