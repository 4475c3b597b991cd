import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AutopilotIdentity, EnrollmentState, ProfileAssignmentStatus } from '../../../shared/domain/autopilot.js';
import {
  endsTurn,
  isTagPending,
  nextAutopilotStep,
  PROFILE_FAILED_NOTE,
  stateAfterRetag,
  type AutopilotStep,
} from '../../../shared/domain/autopilot-step.js';
import { newDevice, type DeviceRecord } from '../../../shared/domain/device.js';
import { canTransition, DEVICE_STATES, type DeviceState } from '../../../shared/domain/lifecycle.js';

/*
 * A registered device waiting for its profile, and its Autopilot identity with the tag in
 * place and nothing assigned yet: each case changes only what it is about.
 */

const NOW = new Date('2026-03-02T12:00:00.000Z');
const SETTLE_MS = 15 * 60_000;
const POLICY = { retagSettleMs: SETTLE_MS };
const BEFORE_DEADLINE = '2026-03-02T18:00:00.000Z';
const PAST_DEADLINE = '2026-03-02T11:00:00.000Z';
const ASSIGNED_BEFORE = '2026-03-01T08:30:00.000Z';
const ASSIGNED_AFTER = '2026-03-02T11:40:00.000Z';

function device(overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  const { record } = newDevice(
    { serialNumber: 'PF3K-0042', supplierId: 'contoso', batchId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', line: 2, groupTag: 'MPS-STD' },
    'received',
    'accepted-from-file',
    'corr-1',
    new Date('2026-03-02T09:00:00.000Z'),
  );
  return {
    ...record,
    state: 'registered',
    autopilotId: 'ap-7f3e',
    autopilotGroupTag: 'MPS-STD',
    waitingFor: 'profile-assignment',
    waitingSince: '2026-03-02T11:00:00.000Z',
    deadlineAt: BEFORE_DEADLINE,
    updatedAt: '2026-03-02T11:00:00.000Z',
    ...overrides,
  };
}

function identity(overrides: Partial<AutopilotIdentity> = {}): AutopilotIdentity {
  return {
    id: 'ap-7f3e',
    serialNumber: 'PF3K-0042',
    groupTag: 'MPS-STD',
    manufacturer: 'Contoso',
    model: 'Laptop 7',
    enrollmentState: 'notContacted',
    displayName: '',
    userPrincipalName: '',
    deploymentProfileAssignmentStatus: 'notAssigned',
    ...overrides,
  };
}

type Case = readonly [string, Partial<DeviceRecord>, Partial<AutopilotIdentity> | undefined, AutopilotStep];

const step = (deviceOverrides: Partial<DeviceRecord>, identityOverrides: Partial<AutopilotIdentity> | undefined): AutopilotStep =>
  nextAutopilotStep(device(deviceOverrides), identityOverrides && identity(identityOverrides), NOW, POLICY);

/** Rows titled by what they expect: `label: kind`. */
const titled = (cases: readonly Case[]) => cases.map(([label, d, i, expected]) => [label, expected.kind, d, i, expected] as const);

const stopWatching = (why: string): AutopilotStep => ({ kind: 'stop-watching', why });
const WAIT: AutopilotStep = { kind: 'wait' };
const STALL: AutopilotStep = { kind: 'stall' };
const PROFILE_ASSIGNED: AutopilotStep = { kind: 'profile-assigned' };
const ENROLLED: AutopilotStep = { kind: 'enrolled' };
const CLEAR_BASELINE: AutopilotStep = { kind: 'clear-baseline' };
const NOTE: AutopilotStep = { kind: 'note-profile-failed' };

describe('nextAutopilotStep: Autopilot no longer has the device', () => {
  it.each(
    titled([
      // An enrolled device was only watched for its tag; with no identity there is nothing to tag.
      ['enrolled', { state: 'enrolled', waitingFor: 'group-tag' }, undefined, stopWatching('the device is no longer in Autopilot')],
      [
        'enrolled past the deadline',
        { state: 'enrolled', deadlineAt: PAST_DEADLINE },
        undefined,
        stopWatching('the device is no longer in Autopilot'),
      ],
      ['registered before the deadline', {}, undefined, WAIT],
      ['registered past the deadline', { deadlineAt: PAST_DEADLINE }, undefined, STALL],
      ['registered at the deadline', { deadlineAt: NOW.toISOString() }, undefined, STALL],
      ['profile-assigned before the deadline', { state: 'profile-assigned', waitingFor: 'enrolment' }, undefined, WAIT],
      [
        'profile-assigned past the deadline',
        { state: 'profile-assigned', waitingFor: 'enrolment', deadlineAt: PAST_DEADLINE },
        undefined,
        STALL,
      ],
      ['with no deadline', { deadlineAt: undefined }, undefined, WAIT],
      // Stalled already: stalling again would add a history event on every poll.
      ['stalled past the deadline', { state: 'stalled', deadlineAt: PAST_DEADLINE }, undefined, WAIT],
    ]),
  )('%s: %s', (_, _kind, d, i, expected) => {
    expect(step(d, i)).toEqual(expected);
  });
});

describe('nextAutopilotStep: the group tag', () => {
  it.each(
    titled([
      ['Autopilot has another tag', {}, { groupTag: 'MPS-OLD' }, { kind: 'set-tag', groupTag: 'MPS-STD' }],
      ['Autopilot has no tag', {}, { groupTag: '' }, { kind: 'set-tag', groupTag: 'MPS-STD' }],
      // A record without a tag never clears one: Autopilot's tag stands (an 806 keeps its [OrderID] group).
      ['the device wants no tag in particular', { groupTag: undefined }, { groupTag: 'MPS-STD' }, WAIT],
      [
        'the device wants no tag in particular, profile assigned',
        { groupTag: undefined },
        { groupTag: 'MPS-STD', deploymentProfileAssignmentStatus: 'assignedInSync' },
        { kind: 'profile-assigned' },
      ],
      [
        'the device wants no tag in particular, enrolled',
        { state: 'enrolled', groupTag: undefined, autopilotGroupTag: 'MPS-OLD', waitingFor: 'group-tag' },
        { groupTag: 'MPS-STD' },
        stopWatching('Autopilot already has the group tag'),
      ],
      // The tag comes first: whatever else Autopilot shows belongs to the old tag.
      [
        'another tag, profile assigned and enrolled',
        { state: 'profile-assigned', waitingFor: 'enrolment' },
        { groupTag: 'MPS-OLD', deploymentProfileAssignmentStatus: 'assignedInSync', enrollmentState: 'enrolled' },
        { kind: 'set-tag', groupTag: 'MPS-STD' },
      ],
      ['another tag past the deadline', { deadlineAt: PAST_DEADLINE }, { groupTag: 'MPS-OLD' }, { kind: 'set-tag', groupTag: 'MPS-STD' }],
      [
        'another tag, profile failed',
        {},
        { groupTag: 'MPS-OLD', deploymentProfileAssignmentStatus: 'failed' },
        { kind: 'set-tag', groupTag: 'MPS-STD' },
      ],
      [
        'another tag on an enrolled device',
        { state: 'enrolled', waitingFor: 'group-tag' },
        { groupTag: 'MPS-OLD' },
        { kind: 'set-tag', groupTag: 'MPS-STD' },
      ],
      [
        'another tag on a stalled device',
        { state: 'stalled', deadlineAt: PAST_DEADLINE },
        { groupTag: 'MPS-OLD' },
        { kind: 'set-tag', groupTag: 'MPS-STD' },
      ],
      // The update went through but its save did not: record it rather than update again.
      ['the record lags behind', { autopilotGroupTag: 'MPS-OLD' }, {}, { kind: 'record-retag', groupTag: 'MPS-STD' }],
      ['the record never saw a tag', { autopilotGroupTag: undefined }, {}, { kind: 'record-retag', groupTag: 'MPS-STD' }],
      ['the record saw another tag on an untagged device', { groupTag: undefined, autopilotGroupTag: 'MPS-OLD' }, { groupTag: '' }, WAIT],
      [
        'the record lags behind on an enrolled device',
        { state: 'enrolled', autopilotGroupTag: 'MPS-OLD' },
        {},
        { kind: 'record-retag', groupTag: 'MPS-STD' },
      ],
      ['no tag anywhere', { groupTag: undefined, autopilotGroupTag: undefined }, { groupTag: '' }, WAIT],
      ['enrolled, tag in place', { state: 'enrolled', waitingFor: 'group-tag' }, {}, stopWatching('Autopilot already has the group tag')],
      [
        'enrolled, tag in place, whatever the profile shows',
        { state: 'enrolled', profileBaseline: ASSIGNED_BEFORE },
        { deploymentProfileAssignmentStatus: 'failed', enrollmentState: 'enrolled' },
        stopWatching('Autopilot already has the group tag'),
      ],
    ]),
  )('%s: %s', (_, _kind, d, i, expected) => {
    expect(step(d, i)).toEqual(expected);
  });
});

describe('nextAutopilotStep: a failed profile assignment', () => {
  it.each(
    titled([
      ['not noted yet', {}, { deploymentProfileAssignmentStatus: 'failed' }, NOTE],
      ['not noted yet, any case', {}, { deploymentProfileAssignmentStatus: 'Failed' as ProfileAssignmentStatus }, NOTE],
      ['another note on the record', { note: 'imported again from another file' }, { deploymentProfileAssignmentStatus: 'failed' }, NOTE],
      ['not noted yet, past the deadline', { deadlineAt: PAST_DEADLINE }, { deploymentProfileAssignmentStatus: 'failed' }, NOTE],
      // Said once: a fix in Intune still counts, so the device keeps waiting rather than failing.
      ['noted', { note: PROFILE_FAILED_NOTE }, { deploymentProfileAssignmentStatus: 'failed' }, WAIT],
      [
        'noted, past the deadline',
        { note: PROFILE_FAILED_NOTE, deadlineAt: PAST_DEADLINE },
        { deploymentProfileAssignmentStatus: 'failed' },
        STALL,
      ],
      [
        'noted, with a baseline',
        { note: PROFILE_FAILED_NOTE, profileBaseline: ASSIGNED_BEFORE },
        { deploymentProfileAssignmentStatus: 'failed' },
        CLEAR_BASELINE,
      ],
    ]),
  )('%s: %s', (_, _kind, d, i, expected) => {
    expect(step(d, i)).toEqual(expected);
  });
});

describe('nextAutopilotStep: the baseline of a re-tag', () => {
  // No profile now means the old assignment is gone: the next one is the new tag's.
  it.each<[string, ProfileAssignmentStatus | undefined]>([
    ['notAssigned', 'notAssigned'],
    ['pending', 'pending'],
    ['unknown', 'unknown'],
    ['not reported (v1.0 read)', undefined],
  ])('is cleared once Autopilot shows %s', (_, status) => {
    expect(step({ profileBaseline: ASSIGNED_BEFORE }, { deploymentProfileAssignmentStatus: status })).toEqual(CLEAR_BASELINE);
    expect(step({ profileBaseline: 'none' }, { deploymentProfileAssignmentStatus: status })).toEqual(CLEAR_BASELINE);
  });

  it('is not cleared while a profile is assigned', () => {
    expect(
      step(
        { profileBaseline: ASSIGNED_BEFORE, waitingSince: '2026-03-02T11:55:00.000Z' },
        { deploymentProfileAssignmentStatus: 'assignedInSync', deploymentProfileAssignedDateTime: ASSIGNED_BEFORE },
      ),
    ).toEqual(WAIT);
  });
});

const ASSIGNED_STATUSES: readonly ProfileAssignmentStatus[] = ['assignedInSync', 'assignedOutOfSync', 'assignedUnkownSyncState'];

describe.each([
  ...ASSIGNED_STATUSES.map((status) => [status] as const),
  // Graph spells it assignedUnkownSyncState (sic); the fixed spelling must count too.
  ['assignedUnknownSyncState' as ProfileAssignmentStatus] as const,
])('nextAutopilotStep: profile %s', (status) => {
  const assigned = (at: string | undefined): Partial<AutopilotIdentity> => ({
    deploymentProfileAssignmentStatus: status,
    deploymentProfileAssignedDateTime: at,
  });

  it.each(
    titled([
      ['no baseline', {}, assigned(ASSIGNED_BEFORE), PROFILE_ASSIGNED],
      ['no baseline and no assignment time', {}, assigned(undefined), PROFILE_ASSIGNED],
      ['no baseline, stalled waiting for it', { state: 'stalled', deadlineAt: PAST_DEADLINE }, assigned(ASSIGNED_BEFORE), PROFILE_ASSIGNED],
      // A new assignment time is the new tag's profile.
      ['assignment time changed', { profileBaseline: ASSIGNED_BEFORE }, assigned(ASSIGNED_AFTER), PROFILE_ASSIGNED],
      ['first assignment time after none', { profileBaseline: 'none' }, assigned(ASSIGNED_AFTER), PROFILE_ASSIGNED],
      // Unchanged: perhaps the old tag's profile; perhaps the new tag maps to the same one.
      [
        'unchanged, re-tagged 5 min ago',
        { profileBaseline: ASSIGNED_BEFORE, waitingSince: '2026-03-02T11:55:00.000Z' },
        assigned(ASSIGNED_BEFORE),
        WAIT,
      ],
      [
        'unchanged, re-tagged just under the settle time ago',
        { profileBaseline: ASSIGNED_BEFORE, waitingSince: '2026-03-02T11:45:00.001Z' },
        assigned(ASSIGNED_BEFORE),
        WAIT,
      ],
      [
        'unchanged, re-tagged the settle time ago',
        { profileBaseline: ASSIGNED_BEFORE, waitingSince: '2026-03-02T11:45:00.000Z' },
        assigned(ASSIGNED_BEFORE),
        PROFILE_ASSIGNED,
      ],
      ['unchanged, re-tagged an hour ago', { profileBaseline: ASSIGNED_BEFORE }, assigned(ASSIGNED_BEFORE), PROFILE_ASSIGNED],
      [
        'no time shown either side, re-tagged 5 min ago',
        { profileBaseline: 'none', waitingSince: '2026-03-02T11:55:00.000Z' },
        assigned(undefined),
        WAIT,
      ],
      ['no time shown either side, re-tagged an hour ago', { profileBaseline: 'none' }, assigned(undefined), PROFILE_ASSIGNED],
      [
        'unchanged, no re-tag time, last written long ago',
        { profileBaseline: ASSIGNED_BEFORE, waitingSince: undefined, updatedAt: '2026-03-02T09:00:00.000Z' },
        assigned(ASSIGNED_BEFORE),
        PROFILE_ASSIGNED,
      ],
      [
        'unchanged within the settle time, past the deadline',
        { profileBaseline: ASSIGNED_BEFORE, waitingSince: '2026-03-02T11:55:00.000Z', deadlineAt: PAST_DEADLINE },
        assigned(ASSIGNED_BEFORE),
        STALL,
      ],
      // Already past the profile step: the assignment says nothing new.
      ['profile-assigned, waiting for enrolment', { state: 'profile-assigned', waitingFor: 'enrolment' }, assigned(ASSIGNED_BEFORE), WAIT],
      ['stalled waiting for enrolment', { state: 'stalled', waitingFor: 'enrolment' }, assigned(ASSIGNED_BEFORE), WAIT],
      // Enrolled before the product saw the profile: the profile is recorded first, then the enrolment.
      ['registered and already enrolled', {}, { ...assigned(ASSIGNED_BEFORE), enrollmentState: 'enrolled' }, PROFILE_ASSIGNED],
    ]),
  )('%s: %s', (_, _kind, d, i, expected) => {
    expect(step(d, i)).toEqual(expected);
  });
});

describe('nextAutopilotStep: enrolment', () => {
  const profile: Partial<AutopilotIdentity> = {
    deploymentProfileAssignmentStatus: 'assignedInSync',
    deploymentProfileAssignedDateTime: ASSIGNED_BEFORE,
  };

  it.each(
    titled([
      [
        'profile-assigned and enrolled',
        { state: 'profile-assigned', waitingFor: 'enrolment' },
        { ...profile, enrollmentState: 'enrolled' },
        ENROLLED,
      ],
      [
        'profile-assigned and enrolled, any case',
        { state: 'profile-assigned', waitingFor: 'enrolment' },
        { ...profile, enrollmentState: 'Enrolled' as EnrollmentState },
        ENROLLED,
      ],
      [
        'profile-assigned and enrolled, past the deadline',
        { state: 'profile-assigned', waitingFor: 'enrolment', deadlineAt: PAST_DEADLINE },
        { ...profile, enrollmentState: 'enrolled' },
        ENROLLED,
      ],
      [
        'stalled waiting for enrolment, enrolled since',
        { state: 'stalled', waitingFor: 'enrolment', deadlineAt: PAST_DEADLINE },
        { ...profile, enrollmentState: 'enrolled' },
        ENROLLED,
      ],
      // Only the status of the profile moved; the device is still expected to enrol.
      [
        'profile-assigned, profile no longer shown, enrolled',
        { state: 'profile-assigned', waitingFor: 'enrolment' },
        { deploymentProfileAssignmentStatus: 'notAssigned', enrollmentState: 'enrolled' },
        ENROLLED,
      ],
      ['profile-assigned, not contacted yet', { state: 'profile-assigned', waitingFor: 'enrolment' }, { ...profile }, WAIT],
      [
        'profile-assigned, enrolment pending a reset',
        { state: 'profile-assigned', waitingFor: 'enrolment' },
        { ...profile, enrollmentState: 'pendingReset' },
        WAIT,
      ],
      [
        'profile-assigned, not enrolled, past the deadline',
        { state: 'profile-assigned', waitingFor: 'enrolment', deadlineAt: PAST_DEADLINE },
        { ...profile, enrollmentState: 'failed' },
        STALL,
      ],
      // Enrolment only counts once the device is waiting for it.
      ['registered, no profile, enrolled', {}, { enrollmentState: 'enrolled' }, WAIT],
    ]),
  )('%s: %s', (_, _kind, d, i, expected) => {
    expect(step(d, i)).toEqual(expected);
  });
});

describe('nextAutopilotStep: the deadline', () => {
  it.each(
    titled([
      ['registered, nothing assigned, before the deadline', {}, {}, WAIT],
      ['registered, nothing assigned, at the deadline', { deadlineAt: NOW.toISOString() }, {}, STALL],
      ['registered, nothing assigned, past the deadline', { deadlineAt: PAST_DEADLINE }, {}, STALL],
      [
        'registered, profile pending, past the deadline',
        { deadlineAt: PAST_DEADLINE },
        { deploymentProfileAssignmentStatus: 'pending' },
        STALL,
      ],
      ['registered, no deadline', { deadlineAt: undefined }, {}, WAIT],
      ['stalled, nothing assigned', { state: 'stalled', deadlineAt: PAST_DEADLINE }, {}, WAIT],
    ]),
  )('%s: %s', (_, _kind, d, i, expected) => {
    expect(step(d, i)).toEqual(expected);
  });
});

describe('endsTurn', () => {
  // The three steps that change what the next decision sees; all others end the device's turn.
  it.each<[AutopilotStep, boolean]>([
    [{ kind: 'note-profile-failed' }, false],
    [{ kind: 'clear-baseline' }, false],
    [{ kind: 'profile-assigned' }, false],
    [{ kind: 'set-tag', groupTag: 'MPS-STD' }, true],
    [{ kind: 'record-retag', groupTag: 'MPS-STD' }, true],
    [{ kind: 'stop-watching', why: 'Autopilot already has the group tag' }, true],
    [{ kind: 'enrolled' }, true],
    [{ kind: 'stall' }, true],
    [{ kind: 'wait' }, true],
  ])('%j: %s', (s, ends) => {
    expect(endsTurn(s)).toBe(ends);
  });
});

describe('isTagPending', () => {
  it.each([
    ['Autopilot has the tag', 'MPS-STD', 'MPS-STD', false],
    ['Autopilot has another tag', 'MPS-STD', 'MPS-OLD', true],
    ['Autopilot tag not yet seen', 'MPS-STD', undefined, true],
    // An absent value never clears a tag.
    ['the record wants no tag in particular', undefined, 'MPS-STD', false],
    ['no tag anywhere', undefined, undefined, false],
  ] as const)('%s: %s', (_, groupTag, autopilotGroupTag, pending) => {
    expect(isTagPending({ groupTag, autopilotGroupTag })).toBe(pending);
  });
});

describe('stateAfterRetag', () => {
  const REGISTERED_AGAIN: readonly DeviceState[] = ['stalled', 'profile-assigned', 'enrolled'];

  it.each(DEVICE_STATES.map((state) => [state, REGISTERED_AGAIN.includes(state) ? 'registered' : state] as const))(
    '%s -> %s',
    (from, to) => {
      expect(stateAfterRetag(from)).toBe(to);
    },
  );

  // The re-tag is written with an ETag-guarded transition: an illegal move would throw there.
  it.each(DEVICE_STATES.map((state) => [state]))('takes %s only where the lifecycle allows', (from) => {
    expect(canTransition(from, stateAfterRetag(from))).toBe(true);
  });
});

describe('PROFILE_FAILED_NOTE', () => {
  it('tells a human what to check', () => {
    expect(PROFILE_FAILED_NOTE).toMatch(/profile/);
    expect(PROFILE_FAILED_NOTE).toMatch(/group/);
  });
});

describe('advancing a device step by step', () => {
  /** What the poll writes for each step that does not end the turn, before it asks again. */
  function apply(current: DeviceRecord, s: AutopilotStep): DeviceRecord {
    switch (s.kind) {
      case 'note-profile-failed':
        return { ...current, note: PROFILE_FAILED_NOTE };
      case 'clear-baseline':
        return { ...current, profileBaseline: undefined };
      case 'profile-assigned':
        return { ...current, state: 'profile-assigned', waitingFor: 'enrolment', waitingSince: NOW.toISOString() };
      default:
        throw new Error(`${s.kind} ends the turn`);
    }
  }

  const times = fc.constantFrom(undefined, '2026-03-01T08:00:00.000Z', '2026-03-02T11:55:00.000Z', PAST_DEADLINE, BEFORE_DEADLINE);
  const tags = fc.constantFrom(undefined, 'MPS-STD', 'MPS-KIOSK');

  const devices = fc.record({
    state: fc.constantFrom<DeviceState>('registered', 'profile-assigned', 'enrolled', 'stalled'),
    groupTag: tags,
    autopilotGroupTag: tags,
    waitingFor: fc.constantFrom(undefined, 'profile-assignment' as const, 'enrolment' as const, 'group-tag' as const),
    waitingSince: times,
    deadlineAt: times,
    profileBaseline: fc.constantFrom(undefined, 'none', ASSIGNED_BEFORE, ASSIGNED_AFTER),
    note: fc.constantFrom(undefined, PROFILE_FAILED_NOTE, 'imported again from another file'),
  });

  const identities = fc.option(
    fc.record({
      groupTag: fc.constantFrom('', 'MPS-STD', 'MPS-KIOSK'),
      enrollmentState: fc.constantFrom<EnrollmentState>('unknown', 'enrolled', 'pendingReset', 'failed', 'notContacted', 'blocked'),
      deploymentProfileAssignmentStatus: fc.constantFrom<ProfileAssignmentStatus | undefined>(
        undefined,
        'unknown',
        'assignedInSync',
        'assignedOutOfSync',
        'assignedUnkownSyncState',
        'notAssigned',
        'pending',
        'failed',
      ),
      deploymentProfileAssignedDateTime: fc.constantFrom(undefined, ASSIGNED_BEFORE, ASSIGNED_AFTER),
    }),
    { nil: undefined },
  );

  // The poll allows a few rounds per device; a step that never ends the turn would spin there.
  it('ends the turn within 4 rounds from any record and identity', () => {
    fc.assert(
      fc.property(devices, identities, (overrides, shown) => {
        let current = device(overrides);
        const seen = shown && identity(shown);
        for (let round = 1; round <= 4; round++) {
          const next = nextAutopilotStep(current, seen, NOW, POLICY);
          if (endsTurn(next)) return true;
          current = apply(current, next);
        }
        return false;
      }),
      { numRuns: 2_000 },
    );
  });
});
