import { describe, expect, it } from 'vitest';
import type { AutopilotIdentity, ManagedDevice } from '../../../shared/domain/autopilot.js';
import { newDevice, type DeviceRecord } from '../../../shared/domain/device.js';
import {
  DEVICE_STATES,
  REPROVISION_ACTIONS,
  REPROVISION_ALLOWED_FROM,
  stateAfterReprovision,
  type DeviceState,
} from '../../../shared/domain/lifecycle.js';
import {
  actionBaseline,
  actionProgress,
  openRequest,
  redeliveredSend,
  refusal,
  remoteActionFor,
  requestEntry,
  retagProgress,
  wipeProgress,
  type ReprovisionRequest,
} from '../../../shared/domain/reprovision.js';

const NOW = new Date('2026-03-02T10:00:00.000Z');

function device(overrides: Partial<DeviceRecord>): DeviceRecord {
  const { record } = newDevice(
    { serialNumber: 'PF3K-0042', supplierId: 'contoso', batchId: 'b1', line: 2 },
    'received',
    'accepted-from-file',
    'c',
    NOW,
  );
  return { ...record, autopilotId: 'ap-1', ...overrides };
}

const request = (overrides: Partial<ReprovisionRequest> = {}): ReprovisionRequest => ({
  requestId: '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11',
  action: 'autopilot-reset',
  ticket: 'INC0012345',
  requestedBy: 'someone',
  requestedAt: NOW.toISOString(),
  fromState: 'enrolled',
  stage: 'sent',
  managedDeviceId: 'md-1',
  actionBaseline: '2026-03-01T08:00:00Z',
  ...overrides,
});

const managed = (entries: ManagedDevice['deviceActionResults'], id = 'md-1'): ManagedDevice => ({
  id,
  serialNumber: 'PF3K-0042',
  deviceName: 'DESKTOP-1',
  deviceActionResults: entries,
});

const identity = (overrides: Partial<AutopilotIdentity> = {}): AutopilotIdentity => ({
  id: 'ap-1',
  serialNumber: 'PF3K-0042',
  groupTag: 'MPS-KIOSK',
  manufacturer: '',
  model: '',
  enrollmentState: 'enrolled',
  managedDeviceId: 'md-1',
  displayName: '',
  userPrincipalName: '',
  deploymentProfileAssignmentStatus: 'assignedInSync',
  deploymentProfileAssignedDateTime: '2026-03-02T10:20:00Z',
  ...overrides,
});

describe('the action table (product.md, Re-provisioning)', () => {
  // Written out, not derived: moving a state in or out of an action's row must be done here too.
  const EXPECTED: Record<(typeof REPROVISION_ACTIONS)[number], DeviceState[]> = {
    'autopilot-reset': ['enrolled'],
    wipe: ['enrolled'],
    'fresh-start': ['enrolled'],
    retag: ['registered', 'profile-assigned', 'enrolled', 'stalled'],
    deregister: ['registered', 'profile-assigned', 'enrolled', 'failed', 'stalled'],
  };
  for (const action of REPROVISION_ACTIONS) {
    for (const state of DEVICE_STATES) {
      const allowed = EXPECTED[action].includes(state);
      it(`${action} from ${state}: ${allowed ? 'allowed' : '409'}`, () => {
        expect(REPROVISION_ALLOWED_FROM[action].includes(state)).toBe(allowed);
        const why = refusal(device({ state }), action);
        if (allowed) expect(why).toBeUndefined();
        else {
          expect(why?.code).toBe('action-not-allowed');
          expect(why?.message).toContain(`is ${state}`);
        }
      });
    }
  }

  it('nothing may be asked while received, importing, rejected, reprovisioning or deregistered', () => {
    for (const state of ['received', 'importing', 'rejected', 'reprovisioning', 'deregistered'] as const) {
      for (const action of REPROVISION_ACTIONS) expect(refusal(device({ state }), action)).toBeDefined();
    }
  });

  it('a device stalled on its import has nothing to re-tag', () => {
    expect(refusal(device({ state: 'stalled', waitingFor: 'import', autopilotId: undefined }), 'retag')?.message).toContain(
      'not registered',
    );
    expect(refusal(device({ state: 'stalled', waitingFor: 'import', autopilotId: undefined }), 'deregister')).toBeUndefined();
  });

  it('each action ends where the table says', () => {
    expect(stateAfterReprovision('autopilot-reset', 'enrolled')).toBe('enrolled');
    expect(stateAfterReprovision('wipe', 'enrolled')).toBe('enrolled');
    expect(stateAfterReprovision('fresh-start', 'enrolled')).toBe('enrolled');
    expect(stateAfterReprovision('retag', 'enrolled')).toBe('enrolled');
    for (const from of ['registered', 'profile-assigned', 'stalled'] as const)
      expect(stateAfterReprovision('retag', from)).toBe('profile-assigned');
    for (const from of EXPECTED.deregister) expect(stateAfterReprovision('deregister', from)).toBe('deregistered');
  });

  it('sends the documented remote actions', () => {
    expect(remoteActionFor('autopilot-reset')).toEqual({ action: 'wipe', keepEnrollmentData: true, keepUserData: false });
    expect(remoteActionFor('wipe')).toEqual({ action: 'wipe', keepEnrollmentData: false, keepUserData: false });
    expect(remoteActionFor('fresh-start')).toEqual({ action: 'cleanWindowsDevice', keepUserData: false });
    expect(remoteActionFor('retag')).toBeUndefined();
    expect(remoteActionFor('deregister')).toBeUndefined();
  });
});

describe('openRequest', () => {
  it('is the request while reprovisioning or stalled on it, and none afterwards', () => {
    const r = request();
    expect(openRequest(device({ state: 'reprovisioning', reprovision: r }))).toBe(r);
    expect(openRequest(device({ state: 'stalled', waitingFor: 'reprovision', reprovision: r }))).toBe(r);
    expect(openRequest(device({ state: 'stalled', waitingFor: 'enrolment', reprovision: r }))).toBeUndefined();
    expect(openRequest(device({ state: 'enrolled', reprovision: { ...r, stage: 'done' } }))).toBeUndefined();
  });
});

describe('action entries', () => {
  const old = {
    actionName: 'wipe',
    actionState: 'done',
    startDateTime: '2026-03-01T08:00:00Z',
    lastUpdatedDateTime: '2026-03-01T08:05:00Z',
  };
  const ours = {
    actionName: 'wipe',
    actionState: 'pending',
    startDateTime: '2026-03-02T10:00:05Z',
    lastUpdatedDateTime: '2026-03-02T10:00:05Z',
  };

  it('the baseline is the newest entry of that action, or none', () => {
    expect(actionBaseline(managed([]), 'wipe')).toBe('none');
    expect(actionBaseline(managed([old, { ...old, actionName: 'retire', startDateTime: '2026-03-05T00:00:00Z' }]), 'wipe')).toBe(
      old.startDateTime,
    );
  });

  it("the request's entry is the newest started after the baseline, whatever the action name's case", () => {
    expect(requestEntry(managed([old]), 'wipe', old.startDateTime)).toBeUndefined();
    expect(requestEntry(managed([old, { ...ours, actionName: 'Wipe' }]), 'wipe', old.startDateTime)?.startDateTime).toBe(
      ours.startDateTime,
    );
    expect(requestEntry(managed([ours]), 'wipe', 'none')).toBeDefined();
  });

  it('Autopilot Reset and Fresh Start: done when the entry is done; refused when Intune fails, cancels or cannot, or the device is gone', () => {
    const r = request();
    expect(actionProgress(r, managed([old]), 'wipe')).toEqual({ kind: 'wait' });
    expect(actionProgress(r, managed([old, ours]), 'wipe')).toEqual({ kind: 'wait' });
    expect(actionProgress(r, managed([old, { ...ours, actionState: 'active' }]), 'wipe')).toEqual({ kind: 'wait' });
    expect(actionProgress(r, managed([old, { ...ours, actionState: 'done' }]), 'wipe')).toEqual({ kind: 'done', managedDeviceId: 'md-1' });
    for (const state of ['failed', 'canceled', 'notSupported']) {
      expect(actionProgress(r, managed([old, { ...ours, actionState: state }]), 'wipe')).toMatchObject({
        kind: 'refused',
        code: `action-${state.toLowerCase()}`,
      });
    }
    expect(actionProgress(r, 'gone', 'wipe')).toMatchObject({ kind: 'refused', code: 'managed-device-gone' });
    // An old entry that failed is not this request's.
    expect(actionProgress(r, managed([{ ...old, actionState: 'failed' }]), 'wipe')).toEqual({ kind: 'wait' });
  });

  it('wipe: done only once the device enrolled again as a new managed device', () => {
    const r = request({ action: 'wipe' });
    expect(wipeProgress(r, identity(), undefined)).toEqual({ kind: 'wait' });
    expect(wipeProgress(r, identity({ managedDeviceId: undefined, enrollmentState: 'notContacted' }), 'gone')).toEqual({ kind: 'wait' });
    expect(wipeProgress(r, identity({ managedDeviceId: 'md-2', enrollmentState: 'notContacted' }), 'gone')).toEqual({ kind: 'wait' });
    expect(wipeProgress(r, identity({ managedDeviceId: 'md-2' }), 'gone')).toEqual({ kind: 'done', managedDeviceId: 'md-2' });
    expect(wipeProgress(r, identity(), managed([old, { ...ours, actionState: 'failed' }]))).toMatchObject({
      kind: 'refused',
      code: 'action-failed',
    });
    expect(wipeProgress(r, 'gone', undefined)).toMatchObject({ kind: 'refused', code: 'not-in-autopilot' });
  });

  it('retag: done when Autopilot has the tag and a profile assigned for it', () => {
    const r = request({ action: 'retag', groupTag: 'MPS-KIOSK', profileBaseline: '2026-03-01T09:00:00Z', sentAt: NOW.toISOString() });
    expect(retagProgress(r, identity({ groupTag: 'MPS-STD' }), NOW, 60_000)).toEqual({ kind: 'wait' });
    expect(retagProgress(r, identity({ deploymentProfileAssignmentStatus: 'pending' }), NOW, 60_000)).toEqual({ kind: 'wait' });
    expect(retagProgress(r, identity(), NOW, 60_000)).toEqual({ kind: 'done', managedDeviceId: 'md-1' });
    // The same profile for the new tag: Autopilot shows no new time, so the assignment must hold for the settle time.
    const same = identity({ deploymentProfileAssignedDateTime: '2026-03-01T09:00:00Z' });
    expect(retagProgress(r, same, new Date(NOW.getTime() + 59_000), 60_000)).toEqual({ kind: 'wait' });
    expect(retagProgress(r, same, new Date(NOW.getTime() + 60_000), 60_000).kind).toBe('done');
    expect(retagProgress(r, 'gone', NOW, 60_000)).toMatchObject({ kind: 'refused', code: 'not-in-autopilot' });
  });
});

describe('redeliveredSend', () => {
  const now = new Date('2026-03-02T10:01:00.000Z');
  const sending = (overrides: Partial<ReprovisionRequest> = {}) =>
    request({ stage: 'sending', actionBaseline: '2026-03-01T08:00:00Z', managedDeviceId: 'md-1', ...overrides });
  const old = { actionName: 'wipe', actionState: 'done', startDateTime: '2026-03-01T08:00:00Z' };
  const ours = { actionName: 'wipe', actionState: 'pending', startDateTime: '2026-03-02T10:00:05Z' };

  it('an entry newer than the baseline: the action went through', () => {
    expect(redeliveredSend(sending(), managed([old, ours]), 'wipe', now)).toBe('already-sent');
  });

  it('no entry, and the delivery that saved the intent may still be sending: wait', () => {
    expect(redeliveredSend(sending({ sendingUntil: '2026-03-02T10:02:00.000Z' }), managed([old]), 'wipe', now)).toBe('wait');
  });

  it('no entry, and that delivery is past its claim: send', () => {
    expect(redeliveredSend(sending({ sendingUntil: '2026-03-02T10:00:30.000Z' }), managed([old]), 'wipe', now)).toBe('send');
  });

  it('the managed device is gone: a plain wipe took effect; a reset or Fresh Start cannot happen', () => {
    expect(redeliveredSend(sending({ action: 'wipe' }), 'gone', 'wipe', now)).toBe('already-sent');
    expect(redeliveredSend(sending({ action: 'autopilot-reset' }), 'gone', 'wipe', now)).toBe('gone');
    expect(redeliveredSend(sending({ action: 'fresh-start' }), 'gone', 'cleanWindowsDevice', now)).toBe('gone');
  });
});
