import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TickPayload } from '../../../../shared/messages/index.js';
import { pollAutopilot } from '../../../../shared/services/pipeline/poll-autopilot.js';
import { retag } from '../../../../shared/services/pipeline/retag.js';
import { DONE } from '../../../../shared/services/pipeline/work.js';
import { MINUTE, scheduledTick, SECOND, startScenarioStack, type Scenario, type ScenarioStack } from '../../../support/scenario.js';

/**
 * retag, called directly: a supplier file gave a known device a new group tag (a new
 * generation); the work either finds nothing to do or carries the tag to Autopilot and
 * makes sure the Autopilot poll watches the device.
 */

const READ_IDENTITY = 'GET windowsAutopilotDeviceIdentities/{id}';
const UPDATE_PROPERTIES = 'POST windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties';

let scenarios: ScenarioStack;

beforeAll(async () => {
  scenarios = await startScenarioStack();
});

afterAll(async () => {
  await scenarios?.stop();
});

function identityOf(s: Scenario, serialNumber: string) {
  const identity = s.sim.autopilotIdentities().find((i) => i.serialNumber === serialNumber);
  if (!identity) throw new Error(`Autopilot has no identity for ${serialNumber}`);
  return identity;
}

describe('retag', () => {
  it('ignores work for an older generation of the device', async () => {
    const s = await scenarios.scenario();
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'RT1A', groupTag: 'MPS-STD' });
    // Generation 3 wants MPS-KIOSK; the work in hand is generation 2's.
    const device = await s.given('RT1A', 'registered', { autopilotId: identity.id, groupTag: 'MPS-KIOSK', generation: 3 });

    expect(await retag(s.deps, { serialNumber: 'RT1A', generation: 2 }, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([]);
    expect((await s.devices.get('RT1A'))?.etag).toBe(device.etag);
    expect(identityOf(s, 'RT1A').groupTag).toBe('MPS-STD');
    expect(await s.messages()).toEqual([]);
  });

  it('does nothing when the record shows Autopilot already has the tag', async () => {
    const s = await scenarios.scenario();
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'RT2A', groupTag: 'MPS-KIOSK' });
    const device = await s.given('RT2A', 'registered', {
      autopilotId: identity.id,
      groupTag: 'MPS-KIOSK',
      autopilotGroupTag: 'MPS-KIOSK',
      generation: 2,
    });

    expect(await retag(s.deps, { serialNumber: 'RT2A', generation: 2 }, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([]);
    expect((await s.devices.get('RT2A'))?.etag).toBe(device.etag);
    expect(await s.messages()).toEqual([]);
  });

  it('leaves a device not yet in Autopilot alone: the tag travels with its import', async () => {
    const s = await scenarios.scenario();
    const device = await s.given('RT3A', 'importing', { groupTag: 'MPS-KIOSK', generation: 2 });

    expect(await retag(s.deps, { serialNumber: 'RT3A', generation: 2 }, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([]);
    expect((await s.devices.get('RT3A'))?.etag).toBe(device.etag);
  });

  it('sets the new tag in Autopilot, sends the device back to wait for its profile and asks for the Autopilot poll', async () => {
    const s = await scenarios.scenario();
    const added = s.sim.addAutopilotIdentity({ serialNumber: 'RT4A', groupTag: 'MPS-STD' });
    s.advance(46 * MINUTE); // Standard profile at 15 minutes, enrolled at 45
    const enrolled = identityOf(s, 'RT4A');
    // Enrolled; a newer file asks for MPS-KIOSK, and intake marked it waiting for the tag.
    await s.given('RT4A', 'enrolled', {
      autopilotId: added.id,
      managedDeviceId: String(enrolled.managedDeviceId),
      groupTag: 'MPS-KIOSK',
      generation: 2,
      waitingFor: 'group-tag',
      waitingSince: s.now().toISOString(),
    });

    expect(await retag(s.deps, { serialNumber: 'RT4A', generation: 2 }, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`, `${UPDATE_PROPERTIES} 204`]);
    expect(identityOf(s, 'RT4A').groupTag).toBe('MPS-KIOSK');
    expect(await s.device('RT4A')).toMatchObject({
      state: 'registered',
      autopilotGroupTag: 'MPS-KIOSK',
      profileBaseline: s.at(15 * MINUTE).toISOString(),
      waitingFor: 'profile-assignment',
      waitingSince: s.at(46 * MINUTE).toISOString(),
    });
    expect(await s.newEvents('RT4A')).toEqual([
      { from: 'enrolled', to: 'registered', reason: 'group-tag-changed', detail: { previousGroupTag: 'MPS-STD', groupTag: 'MPS-KIOSK' } },
    ]);
    expect(await s.messages()).toEqual([scheduledTick('autopilot', s.at(47 * MINUTE))]);

    // The Kiosk profile is assigned 15 minutes after the update; the device never left Intune.
    s.advance(16 * MINUTE);
    const tick = (await s.messages())[0]!.payload as TickPayload;
    expect(await pollAutopilot(s.deps, tick, s.correlationId, 0)).toEqual(DONE);
    expect((await s.newEvents('RT4A')).slice(1).map((e) => [e.from, e.to, e.reason])).toEqual([
      ['registered', 'profile-assigned', 'profile-assigned'],
      ['profile-assigned', 'enrolled', 'enrolled'],
    ]);
  });

  it('records a tag Autopilot already shows without updating it again', async () => {
    const s = await scenarios.scenario();
    // The update went through, the save after it did not (a crash in between).
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'RT5A', groupTag: 'MPS-KIOSK' });
    await s.given('RT5A', 'registered', { autopilotId: identity.id, groupTag: 'MPS-KIOSK', autopilotGroupTag: 'MPS-STD', generation: 2 });

    expect(await retag(s.deps, { serialNumber: 'RT5A', generation: 2 }, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`]);
    expect(await s.device('RT5A')).toMatchObject({ state: 'registered', autopilotGroupTag: 'MPS-KIOSK', waitingFor: 'profile-assignment' });
    expect(await s.newEvents('RT5A')).toEqual([
      {
        from: 'registered',
        to: 'registered',
        reason: 'group-tag-changed',
        detail: { previousGroupTag: 'MPS-STD', groupTag: 'MPS-KIOSK' },
      },
    ]);
    expect(await s.messages()).toEqual([scheduledTick('autopilot', s.at(1 * MINUTE))]);
  });

  it('is done when Autopilot no longer has the device', async () => {
    const s = await scenarios.scenario();
    const device = await s.given('RT6A', 'registered', {
      autopilotId: '6a6a6a6a-0000-4000-8000-0000000000a6',
      groupTag: 'MPS-KIOSK',
      generation: 2,
    });

    expect(await retag(s.deps, { serialNumber: 'RT6A', generation: 2 }, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 404`]);
    expect((await s.devices.get('RT6A'))?.etag).toBe(device.etag);
    expect(await s.messages()).toEqual([]);
  });

  it('turns a throttled read into a retry at Retry-After', async () => {
    const s = await scenarios.scenario({ simulator: { throttle: { requestsPer20s: 0 } } });
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'RT7A', groupTag: 'MPS-STD' });
    const device = await s.given('RT7A', 'registered', { autopilotId: identity.id, groupTag: 'MPS-KIOSK', generation: 2 });

    expect(await retag(s.deps, { serialNumber: 'RT7A', generation: 2 }, s.correlationId, 0)).toEqual({
      kind: 'retry',
      reason: 'throttled',
      at: s.at(20 * SECOND),
      detail: 'reading the Autopilot identity: throttled (graph)',
    });
    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 429`]);
    expect((await s.devices.get('RT7A'))?.etag).toBe(device.etag);
    expect(await s.messages()).toEqual([]);
  });
});
