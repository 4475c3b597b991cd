import { describe, expect, it } from 'vitest';
import type { ImportState } from '../../../shared/domain/autopilot-outcomes.js';
import { decideImport, stallIfLate, type ImportDecision } from '../../../shared/domain/import-decision.js';
import { DEVICE_STATES, type DeviceState } from '../../../shared/domain/lifecycle.js';

/*
 * One fixed `now` and explicit ISO times, so every case states how far it is from the claim
 * and from the deadline. The import states are the ones graph-autopilot.md documents.
 */

const NOW = new Date('2026-03-02T12:00:00.000Z');
const GRACE_MS = 5 * 60_000;
/** Claims made before this had their calls answered before the listing (at NOW) began. */
const LOST_IF_BEFORE = new Date(NOW.getTime() - GRACE_MS);
const BEFORE_DEADLINE = '2026-03-02T18:00:00.000Z';
const AT_DEADLINE = '2026-03-02T12:00:00.000Z';
const PAST_DEADLINE = '2026-03-02T11:00:00.000Z';

interface Waiting {
  readonly state: DeviceState;
  readonly deadlineAt: string | undefined;
  readonly waitingSince: string | undefined;
  readonly updatedAt: string;
}

function waiting(overrides: Partial<Waiting> = {}): Waiting {
  return {
    state: 'importing',
    deadlineAt: BEFORE_DEADLINE,
    waitingSince: '2026-03-02T11:50:00.000Z',
    updatedAt: '2026-03-02T11:50:00.000Z',
    ...overrides,
  };
}

describe('decideImport: no imported record carries the import id', () => {
  it.each<[string, Partial<Waiting>, ImportDecision['kind']]>([
    // An import call may still be in flight: give it the grace before presuming it lost.
    ['claimed a minute ago', { waitingSince: '2026-03-02T11:59:00.000Z' }, 'wait'],
    ['claimed exactly the grace ago', { waitingSince: '2026-03-02T11:55:00.000Z' }, 'wait'],
    ['claimed just over the grace ago', { waitingSince: '2026-03-02T11:54:59.999Z' }, 'resubmit'],
    ['claimed ten minutes ago', {}, 'resubmit'],
    ['claimed ten minutes ago, with no deadline', { deadlineAt: undefined }, 'resubmit'],
    // Older records have no waitingSince: the last write is when the claim was made.
    ['no claim time, last written long ago', { waitingSince: undefined, updatedAt: '2026-03-02T09:00:00.000Z' }, 'resubmit'],
    ['no claim time, last written a minute ago', { waitingSince: undefined, updatedAt: '2026-03-02T11:59:00.000Z' }, 'wait'],
    // Any later write (a note, a save) must not restart the grace of a claim made long ago.
    ['claimed long ago, written since', { waitingSince: '2026-03-02T09:00:00.000Z', updatedAt: '2026-03-02T11:59:00.000Z' }, 'resubmit'],
    ['importing at the deadline', { deadlineAt: AT_DEADLINE }, 'stall'],
    ['importing past the deadline', { deadlineAt: PAST_DEADLINE }, 'stall'],
    ['importing past the deadline, claimed a minute ago', { deadlineAt: PAST_DEADLINE, waitingSince: '2026-03-02T11:59:00.000Z' }, 'stall'],
    // A stalled device is only watched for a late result; only a re-drive submits it again.
    ['stalled, claimed long ago', { state: 'stalled', waitingSince: '2026-03-01T09:00:00.000Z' }, 'wait'],
    ['stalled past the deadline', { state: 'stalled', deadlineAt: PAST_DEADLINE }, 'wait'],
  ])('%s: $2', (_, overrides, kind) => {
    expect(decideImport(waiting(overrides), undefined, NOW, LOST_IF_BEFORE)).toEqual({ kind });
  });

  it.each([
    [60_000, 'resubmit'],
    [10 * 60_000, 'wait'],
    [60 * 60_000, 'wait'],
  ] as const)('measures a claim of ten minutes ago against a grace of %i ms: %s', (grace, kind) => {
    expect(decideImport(waiting(), undefined, NOW, new Date(NOW.getTime() - grace))).toEqual({ kind });
  });

  it('judges a claim by when the listing began, not by when its device is read', () => {
    // Claimed at 11:50; the listing began at 11:54 (less than the 5-minute grace after the
    // claim) and took until 12:00: the call may have landed while it was being read.
    const listingBegan = new Date('2026-03-02T11:54:00.000Z');
    expect(decideImport(waiting(), undefined, NOW, new Date(listingBegan.getTime() - GRACE_MS))).toEqual({ kind: 'wait' });
  });
});

describe.each<[string, ImportState]>([
  ['pending', { deviceImportStatus: 'pending' }],
  ['unknown', { deviceImportStatus: 'unknown' }],
  // What the import request itself sends back: a zeroed error decides nothing.
  ['pending with a zeroed error', { deviceImportStatus: 'pending', deviceErrorCode: 0, deviceErrorName: '' }],
])('decideImport: the record is %s', (_, state) => {
  it.each<[string, Partial<Waiting>, ImportDecision['kind']]>([
    ['importing before the deadline', {}, 'wait'],
    // Autopilot seeing the record means the call arrived: no grace, no resubmission.
    ['importing, claimed long ago', { waitingSince: '2026-03-02T06:00:00.000Z' }, 'wait'],
    ['importing at the deadline', { deadlineAt: AT_DEADLINE }, 'stall'],
    ['importing past the deadline', { deadlineAt: PAST_DEADLINE }, 'stall'],
    ['importing with no deadline', { deadlineAt: undefined }, 'wait'],
    ['stalled past the deadline', { state: 'stalled', deadlineAt: PAST_DEADLINE }, 'wait'],
  ])('a device %s: $2', (_label, overrides, kind) => {
    expect(decideImport(waiting(overrides), { state }, NOW, LOST_IF_BEFORE)).toEqual({ kind });
  });
});

describe('decideImport: finished records', () => {
  const register = (autopilotId: string | undefined): ImportDecision => ({
    kind: 'register',
    reason: 'import-complete',
    autopilotId,
    lookup: autopilotId === undefined,
  });
  const already = (code: string): ImportDecision => ({
    kind: 'register',
    reason: 'already-registered',
    autopilotId: undefined,
    lookup: true,
    code,
  });
  const fail = (reason: 'owned-by-other-tenant' | 'autopilot-rejected-hash' | 'autopilot-error', code: string): ImportDecision => ({
    kind: 'fail',
    reason,
    code,
  });

  const CASES: readonly [string, ImportState, ImportDecision][] = [
    [
      'complete with a registration id',
      { deviceImportStatus: 'complete', deviceRegistrationId: 'ap-7f3e', deviceErrorCode: 0, deviceErrorName: '' },
      register('ap-7f3e'),
    ],
    // The identity exists but the record does not name it: find it by serial.
    ['complete without a registration id', { deviceImportStatus: 'complete', deviceErrorCode: 0 }, register(undefined)],
    ['complete with an empty registration id', { deviceImportStatus: 'complete', deviceRegistrationId: '' }, register(undefined)],
    // 806: in this tenant already; the identity is not on the record, so it is looked up.
    [
      '806 ZtdDeviceAlreadyAssigned',
      { deviceImportStatus: 'error', deviceErrorCode: 806, deviceErrorName: 'ZtdDeviceAlreadyAssigned' },
      already('806 ZtdDeviceAlreadyAssigned'),
    ],
    ['806 by code alone', { deviceImportStatus: 'error', deviceErrorCode: 806 }, already('806')],
    // One of two identical hashes in one request was processed: confirmed by the lookup.
    ['ZtdDeviceDuplicated', { deviceImportStatus: 'error', deviceErrorName: 'ZtdDeviceDuplicated' }, already('0 ZtdDeviceDuplicated')],
    [
      '808 ZtdDeviceAssignedToOtherTenant',
      { deviceImportStatus: 'error', deviceErrorCode: 808, deviceErrorName: 'ZtdDeviceAssignedToOtherTenant' },
      fail('owned-by-other-tenant', '808 ZtdDeviceAssignedToOtherTenant'),
    ],
    [
      'ZtdDeviceAssignedToAnotherTenant by name',
      { deviceImportStatus: 'error', deviceErrorName: 'ZtdDeviceAssignedToAnotherTenant' },
      fail('owned-by-other-tenant', '0 ZtdDeviceAssignedToAnotherTenant'),
    ],
    [
      '802 InvalidZtdHardwareHash',
      { deviceImportStatus: 'error', deviceErrorCode: 802, deviceErrorName: 'InvalidZtdHardwareHash' },
      fail('autopilot-rejected-hash', '802 InvalidZtdHardwareHash'),
    ],
    [
      '803 MissingZtdSerialNumberAndProductKey',
      { deviceImportStatus: 'error', deviceErrorCode: 803, deviceErrorName: 'MissingZtdSerialNumberAndProductKey' },
      fail('autopilot-error', '803 MissingZtdSerialNumberAndProductKey'),
    ],
    ['an error with no code', { deviceImportStatus: 'error' }, fail('autopilot-error', '0')],
    ['partial with an unknown code', { deviceImportStatus: 'partial', deviceErrorCode: 4711 }, fail('autopilot-error', '4711')],
  ];

  // A finished record is an answer: it holds whether the device stalled or its deadline passed.
  const WAITERS: readonly [string, Partial<Waiting>][] = [
    ['importing', {}],
    ['importing past the deadline', { deadlineAt: PAST_DEADLINE }],
    ['stalled', { state: 'stalled', deadlineAt: PAST_DEADLINE }],
  ];

  describe.each(WAITERS)('for a device %s', (_, overrides) => {
    it.each(CASES)('%s', (_label, state, decision) => {
      expect(decideImport(waiting(overrides), { state }, NOW, LOST_IF_BEFORE)).toEqual(decision);
    });
  });

  it('names no error code on a plain completion', () => {
    const decision = decideImport(
      waiting(),
      { state: { deviceImportStatus: 'complete', deviceRegistrationId: 'ap-1' } },
      NOW,
      LOST_IF_BEFORE,
    );
    expect(decision).not.toHaveProperty('code');
  });
});

describe('decideImport: Autopilot asks to try again (StorageError)', () => {
  const STORAGE_ERRORS: readonly [string, ImportState, string][] = [
    ['640 StorageError', { deviceImportStatus: 'error', deviceErrorCode: 640, deviceErrorName: 'StorageError' }, '640 StorageError'],
    ['640 by code', { deviceImportStatus: 'error', deviceErrorCode: 640 }, '640'],
    ['StorageError by name', { deviceImportStatus: 'error', deviceErrorName: 'StorageError' }, '0 StorageError'],
  ];

  const WAITERS: readonly [string, Partial<Waiting>, 'retry-import' | 'wait' | 'stall'][] = [
    ['importing before the deadline', {}, 'retry-import'],
    ['importing with no deadline', { deadlineAt: undefined }, 'retry-import'],
    // Stalled devices are left for a re-drive; a retry would resubmit one nobody asked for.
    ['stalled before the deadline', { state: 'stalled' }, 'wait'],
    ['stalled past the deadline', { state: 'stalled', deadlineAt: PAST_DEADLINE }, 'wait'],
    ['importing at the deadline', { deadlineAt: AT_DEADLINE }, 'stall'],
    ['importing past the deadline', { deadlineAt: PAST_DEADLINE }, 'stall'],
  ];

  describe.each(STORAGE_ERRORS)('%s', (_, state, code) => {
    it.each(WAITERS)('a device %s: $2', (_label, overrides, kind) => {
      const expected: ImportDecision = kind === 'retry-import' ? { kind, code } : { kind };
      expect(decideImport(waiting(overrides), { state }, NOW, LOST_IF_BEFORE)).toEqual(expected);
    });
  });
});

describe('stallIfLate', () => {
  const DEADLINES: readonly [string, string | undefined, boolean][] = [
    ['no deadline', undefined, false],
    ['a deadline ahead', BEFORE_DEADLINE, false],
    ['a deadline a millisecond ahead', '2026-03-02T12:00:00.001Z', false],
    ['the deadline now', AT_DEADLINE, true],
    ['a deadline passed', PAST_DEADLINE, true],
  ];

  const cases = DEVICE_STATES.flatMap((state) =>
    DEADLINES.map(([label, deadlineAt, late]) => {
      // A device stalls once; stalling it again would add a history event per poll.
      const expected = late && state !== 'stalled' ? 'stall' : 'wait';
      return [state, label, expected, deadlineAt] as const;
    }),
  );

  it.each(cases)('a %s device with %s: %s', (state, _, expected, deadlineAt) => {
    expect(stallIfLate({ state, deadlineAt }, NOW)).toBe(expected);
  });
});
