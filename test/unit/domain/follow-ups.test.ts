import { describe, expect, it } from 'vitest';
import { FOLLOW_UPS, followUpOf, followUpsFor, holdsHardwareHash } from '../../../shared/domain/follow-ups.js';
import { DEVICE_STATES, SETTLED_STATES, type WaitStep } from '../../../shared/domain/lifecycle.js';

const STEPS: readonly (WaitStep | undefined)[] = [undefined, 'import', 'group-tag', 'profile-assignment', 'enrolment', 'reprovision'];

describe('follow-ups', () => {
  it('finds every indexed device under a follow-up its state and step are asked for by', () => {
    for (const state of DEVICE_STATES) {
      for (const waitingFor of STEPS) {
        const followUp = followUpOf({ state, waitingFor });
        if (followUp === undefined) continue;
        expect(FOLLOW_UPS).toContain(followUp);
        expect(followUpsFor(state, waitingFor ? [waitingFor] : undefined)).toContain(followUp);
        if (state === 'stalled') expect(followUpsFor(state)).toContain(followUp);
      }
    }
  });

  it('indexes no settled device, except an enrolled one waiting for its new group tag', () => {
    for (const state of SETTLED_STATES) {
      for (const waitingFor of STEPS) {
        const expected = state === 'enrolled' && waitingFor === 'group-tag' ? 'autopilot' : undefined;
        expect(followUpOf({ state, waitingFor }), `${state} ${waitingFor ?? ''}`).toBe(expected);
      }
    }
  });

  it('refuses to look for devices that are not indexed rather than find none', () => {
    expect(() => followUpsFor('enrolled')).toThrow(/not indexed/);
    expect(() => followUpsFor('failed')).toThrow(/not indexed/);
    expect(followUpsFor('enrolled', ['group-tag'])).toEqual(['autopilot']);
  });

  it('keeps the hardware hash until the device is registered', () => {
    expect(holdsHardwareHash('importing')).toBe(true);
    expect(holdsHardwareHash('stalled')).toBe(true);
    expect(holdsHardwareHash('registered')).toBe(false);
    expect(holdsHardwareHash('enrolled')).toBe(false);
  });
});
