import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILE_FAILED_NOTE } from '../../../../shared/domain/autopilot-step.js';
import { EVENTS } from '../../../../shared/events.js';
import type { TickPayload } from '../../../../shared/messages/index.js';
import { advance, pollAutopilot } from '../../../../shared/services/pipeline/poll-autopilot.js';
import { DONE } from '../../../../shared/services/pipeline/work.js';
import { transition } from '../../../../shared/domain/device.js';
import {
  DAY,
  HOUR,
  MINUTE,
  scheduledTick,
  SECOND,
  startScenarioStack,
  type Scenario,
  type ScenarioStack,
} from '../../../support/scenario.js';

/**
 * pollAutopilot and advance, called directly: what the Autopilot identities of registered
 * devices (profile assignment, enrolment, group tag) do to them, and what the poll asks for next.
 * In the simulator a tag puts a device in its profile's group after 5 minutes (status
 * `pending`), the profile is assigned 10 minutes later, and the device enrols 30 minutes after that.
 */

const READ_IDENTITY = 'GET windowsAutopilotDeviceIdentities/{id}';
const LIST_IDENTITIES = 'GET windowsAutopilotDeviceIdentities';
const UPDATE_PROPERTIES = 'POST windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties';

let scenarios: ScenarioStack;

beforeAll(async () => {
  scenarios = await startScenarioStack();
});

afterAll(async () => {
  await scenarios?.stop();
});

const tickNow = (s: Scenario, idle = 0): TickPayload => ({ tick: 'autopilot', at: s.now().toISOString(), idle });

/** The device as Autopilot shows it now (beta, with the profile fields). */
function identityOf(s: Scenario, serialNumber: string) {
  const identity = s.sim.autopilotIdentities().find((i) => i.serialNumber === serialNumber);
  if (!identity) throw new Error(`Autopilot has no identity for ${serialNumber}`);
  return identity;
}

describe('pollAutopilot', () => {
  it('backs off while the profile is pending, and moves the device to profile-assigned once Autopilot assigns it', async () => {
    const s = await scenarios.scenario();
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'PA1A', groupTag: 'MPS-STD' });
    await s.given('PA1A', 'registered', { autopilotId: identity.id });
    const registered = await s.devices.get('PA1A');
    s.advance(10 * MINUTE); // in the profile's group, assignment pending

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect((await s.devices.get('PA1A'))?.etag).toBe(registered?.etag);
    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`]);
    // Read from beta: only there does Graph show the profile assignment.
    expect(s.sim.requestLog()[0]!.url).toMatch(/^\/beta\//);
    // Nothing moved: the next look backs off from one minute to two.
    const next = scheduledTick('autopilot', s.at(12 * MINUTE), { idle: 1 });
    expect(await s.messages()).toEqual([next]);

    s.advance(6 * MINUTE); // assigned at 15 minutes
    expect(await pollAutopilot(s.deps, next.payload as TickPayload, s.correlationId, 0)).toEqual(DONE);

    expect(await s.device('PA1A')).toMatchObject({
      state: 'profile-assigned',
      autopilotGroupTag: 'MPS-STD',
      waitingFor: 'enrolment',
      waitingSince: s.at(16 * MINUTE).toISOString(),
      deadlineAt: s.at(16 * MINUTE + 60 * DAY).toISOString(),
    });
    expect(await s.newEvents('PA1A')).toEqual([
      {
        from: 'registered',
        to: 'profile-assigned',
        reason: 'profile-assigned',
        detail: { profileStatus: 'assignedInSync', assignedAt: s.at(15 * MINUTE).toISOString() },
      },
    ]);
    // Progress: the next look one minute on, idle again from zero.
    expect((await s.messages()).slice(1)).toEqual([scheduledTick('autopilot', s.at(17 * MINUTE))]);
  });

  it('takes a device as far as Autopilot shows in one turn: profile assigned, then enrolled', async () => {
    const s = await scenarios.scenario();
    const added = s.sim.addAutopilotIdentity({ serialNumber: 'PA2A', groupTag: 'MPS-STD' });
    await s.given('PA2A', 'registered', { autopilotId: added.id });
    s.advance(46 * MINUTE); // enrolled at 45 minutes

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    const identity = identityOf(s, 'PA2A');
    expect(identity.enrollmentState).toBe('enrolled');
    expect(await s.device('PA2A')).toMatchObject({
      state: 'enrolled',
      managedDeviceId: identity.managedDeviceId,
      waitingFor: undefined,
      deadlineAt: undefined,
    });
    expect(await s.newEvents('PA2A')).toEqual([
      {
        from: 'registered',
        to: 'profile-assigned',
        reason: 'profile-assigned',
        detail: { profileStatus: 'assignedInSync', assignedAt: s.at(15 * MINUTE).toISOString() },
      },
      { from: 'profile-assigned', to: 'enrolled', reason: 'enrolled', detail: { managedDeviceId: identity.managedDeviceId } },
    ]);
    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`]);
    // Nothing left to watch: the chain ends.
    expect(await s.messages()).toEqual([]);
  });

  it('sets a changed tag in Autopilot, then waits for an assignment newer than the baseline before counting the profile', async () => {
    const s = await scenarios.scenario();
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'PA3A', groupTag: 'MPS-STD' });
    s.advance(16 * MINUTE); // the Standard profile assigned at 15 minutes
    // A newer file gave the device another tag; Autopilot still has the old one.
    await s.given('PA3A', 'profile-assigned', { autopilotId: identity.id, groupTag: 'MPS-KIOSK', autopilotGroupTag: 'MPS-STD' });

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`, `${UPDATE_PROPERTIES} 204`]);
    expect(identityOf(s, 'PA3A').groupTag).toBe('MPS-KIOSK');
    expect(await s.device('PA3A')).toMatchObject({
      state: 'registered',
      autopilotGroupTag: 'MPS-KIOSK',
      // The assignment Autopilot showed for the old tag: only a newer one counts for the new tag.
      profileBaseline: s.at(15 * MINUTE).toISOString(),
      waitingFor: 'profile-assignment',
      waitingSince: s.at(16 * MINUTE).toISOString(),
      deadlineAt: s.at(16 * MINUTE + 72 * HOUR).toISOString(),
    });
    expect(await s.newEvents('PA3A')).toEqual([
      {
        from: 'profile-assigned',
        to: 'registered',
        reason: 'group-tag-changed',
        detail: { previousGroupTag: 'MPS-STD', groupTag: 'MPS-KIOSK' },
      },
    ]);
    expect(await s.messages()).toEqual([scheduledTick('autopilot', s.at(17 * MINUTE))]);

    // Six minutes on the device is in the Kiosk group, its old profile still showing
    // (assignedOutOfSync, same time): that is not the new tag's assignment yet.
    s.advance(6 * MINUTE);
    const retagged = await s.devices.get('PA3A');
    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);
    expect(identityOf(s, 'PA3A').deploymentProfileAssignmentStatus).toBe('assignedOutOfSync');
    expect((await s.devices.get('PA3A'))?.etag).toBe(retagged?.etag);

    // The Kiosk profile is assigned 15 minutes after the re-tag, at 31 minutes.
    s.advance(10 * MINUTE);
    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);
    expect((await s.device('PA3A')).state).toBe('profile-assigned');
    expect((await s.newEvents('PA3A')).slice(1)).toEqual([
      {
        from: 'registered',
        to: 'profile-assigned',
        reason: 'profile-assigned',
        detail: { profileStatus: 'assignedInSync', assignedAt: s.at(31 * MINUTE).toISOString() },
      },
    ]);
  });

  it('never clears a tag for a device whose record has none: Autopilot keeps its tag and the profile comes as usual', async () => {
    const s = await scenarios.scenario();
    // Tagged in Autopilot under its [OrderID] group; the record wants no tag in particular
    // (a row without a tag from a supplier without a default, registered before the record learnt the tag).
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'PA9A', groupTag: 'MPS-KIOSK' });
    await s.given('PA9A', 'registered', {
      supplierId: 'fabrikam',
      autopilotId: identity.id,
      groupTag: undefined,
      autopilotGroupTag: undefined,
    });
    s.advance(16 * MINUTE); // the Kiosk profile assigned at 15 minutes

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`]);
    expect(identityOf(s, 'PA9A').groupTag).toBe('MPS-KIOSK');
    expect(await s.device('PA9A')).toMatchObject({ state: 'profile-assigned', groupTag: undefined, autopilotGroupTag: 'MPS-KIOSK' });
    expect((await s.newEvents('PA9A')).map((e) => e.reason)).toEqual(['profile-assigned']);
  });

  it('notes a failed profile assignment once, and keeps the device waiting', async () => {
    const s = await scenarios.scenario();
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'PA4A', groupTag: 'MPS-STD' });
    s.sim.blockProfileAssignment('PA4A', 'failed');
    await s.given('PA4A', 'registered', { autopilotId: identity.id });
    s.advance(1 * MINUTE);

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(await s.device('PA4A')).toMatchObject({ state: 'registered', note: PROFILE_FAILED_NOTE, waitingFor: 'profile-assignment' });
    // A note on the record, not a transition.
    expect(await s.newEvents('PA4A')).toEqual([]);
    expect(s.logEvents(EVENTS.profileAssignmentFailed)).toEqual([expect.objectContaining({ serial: 'PA4A', groupTag: 'MPS-STD' })]);
    const noted = await s.devices.get('PA4A');

    // An hour later Autopilot still says failed: nothing is written or logged again.
    s.advance(1 * HOUR);
    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);
    expect((await s.devices.get('PA4A'))?.etag).toBe(noted?.etag);
    expect(s.logEvents(EVENTS.profileAssignmentFailed)).toHaveLength(1);
  });

  it('stalls devices past their deadline with what Autopilot last showed', async () => {
    const s = await scenarios.scenario();
    const stuck = s.sim.addAutopilotIdentity({ serialNumber: 'PA5A', groupTag: 'MPS-STD' });
    s.sim.blockProfileAssignment('PA5A', 'pending');
    await s.given('PA5A', 'registered', { autopilotId: stuck.id });
    // Registered once, then removed from Autopilot by someone else.
    await s.given('PA5B', 'registered', { autopilotId: '5a5a5a5a-0000-4000-8000-00000000005b' });
    s.advance(72 * HOUR + 1 * MINUTE); // the profile deadline is 72 hours

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    const deadlineAt = s.at(72 * HOUR).toISOString();
    expect(await s.newEvents('PA5A')).toEqual([
      {
        from: 'registered',
        to: 'stalled',
        reason: 'deadline-passed',
        detail: { waitingFor: 'profile-assignment', deadlineAt, profileStatus: 'pending', enrollmentState: 'notContacted' },
      },
    ]);
    expect(await s.newEvents('PA5B')).toEqual([
      {
        from: 'registered',
        to: 'stalled',
        reason: 'deadline-passed',
        detail: { waitingFor: 'profile-assignment', deadlineAt, inAutopilot: false },
      },
    ]);
    for (const serial of ['PA5A', 'PA5B'])
      expect(await s.device(serial)).toMatchObject({ state: 'stalled', waitingFor: 'profile-assignment' });
    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`, `${READ_IDENTITY} 404`]);
    // Stalled devices stay watched (a late assignment still counts): the poll goes on.
    expect(await s.messages()).toEqual([scheduledTick('autopilot', s.at(72 * HOUR + 2 * MINUTE))]);
  });

  it('stops watching an enrolled device for a new tag once Autopilot has it, or no longer has the device', async () => {
    const s = await scenarios.scenario();
    // Both enrolled, and marked by a newer file as waiting for its tag to reach Autopilot.
    const watch = { waitingFor: 'group-tag' as const, waitingSince: s.now().toISOString(), groupTag: 'MPS-KIOSK' };
    const tagged = s.sim.addAutopilotIdentity({ serialNumber: 'PA6A', groupTag: 'MPS-KIOSK' });
    await s.given('PA6A', 'enrolled', { ...watch, autopilotId: tagged.id, autopilotGroupTag: 'MPS-KIOSK' });
    await s.given('PA6B', 'enrolled', { ...watch, autopilotId: '6b6b6b6b-0000-4000-8000-00000000006b', autopilotGroupTag: 'MPS-STD' });
    s.advance(1 * MINUTE);

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    for (const serial of ['PA6A', 'PA6B']) {
      expect(await s.device(serial)).toMatchObject({ state: 'enrolled', waitingFor: undefined, waitingSince: undefined });
      // A field update: it stays enrolled, with no history event.
      expect(await s.newEvents(serial)).toEqual([]);
    }
    expect(s.logEvents(EVENTS.retagDeferred).map((line) => [line.serial, line.msg])).toEqual([
      ['PA6A', 'enrolled device no longer watched for its group tag: Autopilot already has the group tag'],
      ['PA6B', 'enrolled device no longer watched for its group tag: the device is no longer in Autopilot'],
    ]);
    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`, `${READ_IDENTITY} 404`]);
    expect(await s.messages()).toEqual([]);
  });

  it('stops watching an enrolled device whose new tag could not be set by its deadline: it stays enrolled, never stalled', async () => {
    // Autopilot refuses every update of this device's properties (rule 26): the deadline decides.
    const s = await scenarios.scenario({ simulator: { refuseDevicePropertiesWhere: (identity) => identity.serialNumber === 'PA6C' } });
    const identity = s.sim.addAutopilotIdentity({ serialNumber: 'PA6C', groupTag: 'MPS-STD' });
    const past = new Date(s.now().getTime() - MINUTE).toISOString();
    await s.given('PA6C', 'enrolled', {
      autopilotId: identity.id,
      groupTag: 'MPS-KIOSK',
      autopilotGroupTag: 'MPS-STD',
      waitingFor: 'group-tag',
      waitingSince: past,
      deadlineAt: past,
    });

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`, `${UPDATE_PROPERTIES} 412`]);
    expect(await s.device('PA6C')).toMatchObject({ state: 'enrolled', waitingFor: undefined, groupTag: 'MPS-KIOSK' });
    expect(identityOf(s, 'PA6C').groupTag).toBe('MPS-STD');
    expect(s.logEvents(EVENTS.deviceStepFailed)).toEqual([]);
    expect(s.logEvents(EVENTS.retagDeferred).map((line) => line.msg)).toContain(
      'enrolled device no longer watched for its group tag: the group tag could not be set by its deadline',
    );
  });

  it('turns throttled reads into a retry at Retry-After, after moving on the devices it could read', async () => {
    // One request per 20-second window.
    const s = await scenarios.scenario({ simulator: { throttle: { requestsPer20s: 1 } } });
    for (const serial of ['PA7A', 'PA7B']) {
      const identity = s.sim.addAutopilotIdentity({ serialNumber: serial, groupTag: 'MPS-STD' });
      await s.given(serial, 'registered', { autopilotId: identity.id });
    }
    const unread = await s.devices.get('PA7B');
    s.advance(16 * MINUTE);

    expect(await pollAutopilot(s.deps, tickNow(s), s.correlationId, 0)).toEqual({
      kind: 'retry',
      reason: 'throttled',
      at: s.at(16 * MINUTE + 20 * SECOND),
      detail: 'reading Autopilot identities: throttled (graph)',
    });

    expect(s.graphCalls()).toEqual([`${READ_IDENTITY} 200`, `${READ_IDENTITY} 429`]);
    expect((await s.device('PA7A')).state).toBe('profile-assigned');
    expect((await s.devices.get('PA7B'))?.etag).toBe(unread?.etag);
    // The retry is the next run: the poll schedules nothing itself.
    expect(await s.messages()).toEqual([]);
  });

  it('answers many waiting devices with one listing instead of a read each', async () => {
    const s = await scenarios.scenario();
    for (const serial of ['PA8A', 'PA8B', 'PA8C']) {
      const identity = s.sim.addAutopilotIdentity({ serialNumber: serial, groupTag: 'MPS-STD' });
      await s.given(serial, 'registered', { autopilotId: identity.id });
    }
    s.advance(16 * MINUTE);

    expect(await pollAutopilot({ ...s.deps, perDeviceReadLimit: 2 }, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${LIST_IDENTITIES} 200`]);
    expect(s.sim.requestLog()[0]!.url).toMatch(/^\/beta\//);
    for (const serial of ['PA8A', 'PA8B', 'PA8C']) expect((await s.device(serial)).state).toBe('profile-assigned');
  });

  it('answers waiting devices beyond one page from one listing, a page of devices at a time', async () => {
    const s = await scenarios.scenario();
    const serials = ['PA8D', 'PA8E', 'PA8F', 'PA8G', 'PA8H'];
    for (const serial of serials) {
      const identity = s.sim.addAutopilotIdentity({ serialNumber: serial, groupTag: 'MPS-STD' });
      await s.given(serial, 'registered', { autopilotId: identity.id });
    }
    s.advance(16 * MINUTE);

    // Fewer devices than per-device reads would allow, but more than a page: one listing.
    expect(await pollAutopilot({ ...s.deps, pollPageSize: 2 }, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${LIST_IDENTITIES} 200`]);
    for (const serial of serials) expect((await s.device(serial)).state).toBe('profile-assigned');
    expect(s.logEvents(EVENTS.autopilotPoll)).toEqual([expect.objectContaining({ watched: 5, progressed: 5, pages: 3, read: 'listing' })]);
  });
});

describe('advance', () => {
  it('decides again on the newer record when a file changed the tag between the read and the update', async () => {
    const s = await scenarios.scenario();
    const added = s.sim.addAutopilotIdentity({ serialNumber: 'PA9A', groupTag: 'MPS-STD' });
    s.advance(16 * MINUTE);
    // The poll read the device wanting MPS-KIOSK ...
    const read = await s.given('PA9A', 'registered', { autopilotId: added.id, groupTag: 'MPS-KIOSK' });
    // ... and before it updated Autopilot, a newer file set MPS-STD again.
    const newer = transition(read.value, {
      to: 'registered',
      reason: 'group-tag-changed',
      correlationId: 'newer-file',
      now: s.now(),
      changes: { groupTag: 'MPS-STD', generation: read.value.generation + 1 },
    });
    await s.devices.save(newer.record, read, newer.event);
    const identity = await s.graph.getAutopilotIdentity(added.id);
    if (!identity.ok) throw new Error('the identity could not be read');
    s.resetGraphCalls();

    const outcome = await advance(s.deps, read, identity.value, s.correlationId, s.deps.log);

    // Autopilot already has what the newer record wants: no update, and the profile counts.
    expect(outcome).toEqual({ moved: true, state: 'profile-assigned' });
    expect(s.graphCalls()).toEqual([]);
    expect(identityOf(s, 'PA9A').groupTag).toBe('MPS-STD');
    expect((await s.newEvents('PA9A')).map((e) => [e.from, e.to, e.reason])).toEqual([
      ['registered', 'registered', 'group-tag-changed'],
      ['registered', 'profile-assigned', 'profile-assigned'],
    ]);
  });
});
