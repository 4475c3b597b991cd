import { describe, expect, it } from 'vitest';
import {
  allowedTransitions,
  canTransition,
  DEVICE_STATES,
  isDeviceState,
  SETTLED_STATES,
  type DeviceState,
} from '../../../shared/domain/lifecycle.js';

/*
 * The expected tables are written out here rather than read from the module, so a change to
 * the lifecycle has to be made twice: once in the code, once in the contract it is held to.
 */

// Every legal move, grouped by what moves the device.
const ALLOWED: readonly (readonly [DeviceState, DeviceState])[] = [
  // Intake and import
  ['received', 'importing'],
  ['received', 'rejected'],
  ['received', 'failed'],
  ['rejected', 'received'],
  ['importing', 'registered'],
  ['importing', 'failed'],
  ['importing', 'stalled'],
  // Waiting for Autopilot and Intune
  ['registered', 'profile-assigned'],
  ['registered', 'failed'],
  ['registered', 'stalled'],
  ['profile-assigned', 'enrolled'],
  ['profile-assigned', 'registered'],
  ['profile-assigned', 'failed'],
  ['profile-assigned', 'stalled'],
  ['enrolled', 'registered'],
  // The service desk
  ['registered', 'reprovisioning'],
  ['profile-assigned', 'reprovisioning'],
  ['enrolled', 'reprovisioning'],
  ['reprovisioning', 'registered'],
  ['reprovisioning', 'profile-assigned'],
  ['reprovisioning', 'enrolled'],
  ['reprovisioning', 'deregistered'],
  ['reprovisioning', 'failed'],
  ['reprovisioning', 'stalled'],
  ['deregistered', 'received'],
  // Recovery: a human or a re-drive picks the device up again
  ['failed', 'received'],
  ['failed', 'importing'],
  ['failed', 'registered'],
  ['failed', 'reprovisioning'],
  ['stalled', 'importing'],
  ['stalled', 'registered'],
  ['stalled', 'profile-assigned'],
  ['stalled', 'enrolled'],
  ['stalled', 'failed'],
  ['stalled', 'received'],
  ['stalled', 'reprovisioning'],
];

// Moves a late, repeated or out-of-order message would make; each must be refused.
const REFUSED: readonly (readonly [DeviceState, DeviceState, string])[] = [
  ['importing', 'received', 'a redelivered intake message'],
  ['registered', 'importing', 'a late import result'],
  ['registered', 'received', 'a repeated file row'],
  ['profile-assigned', 'importing', 'a late import result'],
  ['enrolled', 'importing', 'a late import result'],
  ['enrolled', 'received', 'a repeated file row'],
  ['enrolled', 'profile-assigned', 'a late profile poll'],
  ['enrolled', 'failed', 'a late Autopilot error'],
  ['enrolled', 'stalled', 'a late deadline'],
  ['enrolled', 'deregistered', 'deregistering without a request'],
  ['received', 'registered', 'skipping the import'],
  ['received', 'enrolled', 'skipping every step'],
  ['received', 'stalled', 'a deadline before any wait'],
  ['importing', 'profile-assigned', 'skipping registration'],
  ['importing', 'enrolled', 'skipping registration'],
  ['importing', 'reprovisioning', 'a service-desk request mid-import'],
  ['rejected', 'importing', 'importing a row that failed validation'],
  ['rejected', 'failed', 'an Autopilot answer for a row never sent'],
  ['deregistered', 'registered', 'a late import result'],
  ['deregistered', 'enrolled', 'a late enrolment poll'],
  ['deregistered', 'reprovisioning', 'a service-desk request after removal'],
  ['reprovisioning', 'received', 'a repeated file row'],
  ['reprovisioning', 'importing', 'a late import result'],
  ['failed', 'enrolled', 'skipping the steps after a failure'],
  ['failed', 'profile-assigned', 'skipping registration after a failure'],
  ['stalled', 'rejected', 'rejecting a row already accepted'],
  ['stalled', 'deregistered', 'deregistering without a request'],
];

const allowedSet = new Set(ALLOWED.map(([from, to]) => `${from}>${to}`));

describe('device states', () => {
  it('are the canonical names of the product contract, in its order', () => {
    expect(DEVICE_STATES).toEqual([
      'received',
      'rejected',
      'importing',
      'registered',
      'profile-assigned',
      'enrolled',
      'reprovisioning',
      'deregistered',
      'failed',
      'stalled',
    ]);
  });

  it.each(DEVICE_STATES.map((state) => [state]))('isDeviceState accepts %s', (state) => {
    expect(isDeviceState(state)).toBe(true);
  });

  it.each([['Received'], [' received'], ['received '], [''], ['profile_assigned'], ['profileAssigned'], ['done'], ['unknown']])(
    'isDeviceState refuses %j',
    (value) => {
      expect(isDeviceState(value)).toBe(false);
    },
  );
});

describe('canTransition', () => {
  it.each(ALLOWED)('allows %s -> %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it.each(REFUSED)('refuses %s -> %s (%s)', (from, to) => {
    expect(allowedSet.has(`${from}>${to}`)).toBe(false);
    expect(canTransition(from, to)).toBe(false);
  });

  it.each(DEVICE_STATES.map((state) => [state]))('lets %s stay in place to record a change', (state) => {
    expect(canTransition(state, state)).toBe(true);
  });

  it.each(DEVICE_STATES.map((state) => [state]))('refuses from %s every move the table does not list', (from) => {
    const refused = DEVICE_STATES.filter((to) => to !== from && !allowedSet.has(`${from}>${to}`));
    for (const to of refused) expect(canTransition(from, to), `${from} -> ${to}`).toBe(false);
  });
});

describe('a new device', () => {
  it.each([['received'], ['rejected']] as const)('starts as %s', (to) => {
    expect(canTransition(undefined, to)).toBe(true);
  });

  it.each(DEVICE_STATES.filter((state) => state !== 'received' && state !== 'rejected').map((state) => [state]))(
    'cannot start as %s',
    (to) => {
      expect(canTransition(undefined, to)).toBe(false);
    },
  );
});

describe('allowedTransitions', () => {
  it.each(DEVICE_STATES.map((state) => [state]))('lists exactly the moves out of %s, not staying in place', (from) => {
    const expected = ALLOWED.filter(([source]) => source === from).map(([, to]) => to);
    expect([...allowedTransitions(from)].sort()).toEqual([...expected].sort());
    expect(allowedTransitions(from)).not.toContain(from);
  });
});

describe('SETTLED_STATES', () => {
  const settled: readonly DeviceState[] = ['rejected', 'enrolled', 'deregistered', 'failed'];

  it('holds exactly the states that end provisioning', () => {
    expect([...SETTLED_STATES].sort()).toEqual([...settled].sort());
  });

  it.each(DEVICE_STATES.map((state) => [state, settled.includes(state)] as const))('%s is settled: %s', (state, isSettled) => {
    expect(SETTLED_STATES.has(state)).toBe(isSettled);
  });
});
