import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyRepository } from '../../../../shared/adapters/tables/idempotency-store.js';
import type { DeviceRecord } from '../../../../shared/domain/device.js';
import type { DeviceState } from '../../../../shared/domain/lifecycle.js';
import type { ReprovisionAsk } from '../../../../shared/domain/reprovision.js';
import type { ReprovisionPayload, TickPayload } from '../../../../shared/messages/index.js';
import { pollReprovision } from '../../../../shared/services/pipeline/poll-reprovision.js';
import { carryOutRequest } from '../../../../shared/services/pipeline/reprovision.js';
import { DONE } from '../../../../shared/services/pipeline/work.js';
import { acceptReprovision, type AcceptDeps } from '../../../../shared/services/reprovision/accept.js';
import { HOUR, MINUTE, startScenarioStack, type Scenario, type ScenarioStack } from '../../../support/scenario.js';

/**
 * Re-provisioning, called directly on a fixed clock: a request accepted (as the webhook does),
 * the worker's Graph calls, and the poll that follows each request until its completion
 * condition holds — against the simulator's model of Intune and Autopilot (remote actions take
 * effect at the device's next check-in, 5 minutes here; a wiped device enrols again 30 minutes
 * after that as a new managed device).
 */

const DEADLINE_MS = 24 * HOUR;

let scenarios: ScenarioStack;

beforeAll(async () => {
  scenarios = await startScenarioStack();
});

afterAll(async () => {
  await scenarios?.stop();
});

interface Desk {
  readonly s: Scenario;
  readonly accept: AcceptDeps;
}

async function desk(options: Parameters<ScenarioStack['scenario']>[0] = {}): Promise<Desk> {
  const s = await scenarios.scenario({
    ...options,
    simulator: { ...options.simulator, latencies: { remoteActionSeconds: 300, reEnrolmentSeconds: 1800, ...options.simulator?.latencies } },
  });
  const idempotency = IdempotencyRepository.connect(scenarios.stack.storageConnectionString, `scenidem${randomUUID().slice(0, 8)}`);
  await idempotency.ensure();
  return {
    s,
    accept: {
      devices: s.devices,
      idempotency,
      queue: s.deps.queue,
      log: s.deps.log,
      now: s.now,
      newRequestId: randomUUID,
      deadlineMs: DEADLINE_MS,
    },
  };
}

/** A device Autopilot registered and Intune enrolled, and the record that says so. */
async function enrolled(s: Scenario, serialNumber: string, state: DeviceState = 'enrolled'): Promise<DeviceRecord> {
  s.sim.addAutopilotIdentity({ serialNumber, groupTag: 'MPS-STD' });
  s.advance(46 * MINUTE); // profile at 15 minutes, enrolled at 45
  const identity = s.sim.autopilotIdentities().find((i) => i.serialNumber === serialNumber)!;
  const managedDeviceId = state === 'enrolled' ? String(identity.managedDeviceId) : undefined;
  const saved = await s.given(serialNumber, state, { autopilotId: identity.id, ...(managedDeviceId ? { managedDeviceId } : {}) });
  s.resetGraphCalls();
  return saved.value;
}

async function ask(d: Desk, serialNumber: string, body: Partial<ReprovisionAsk> & Pick<ReprovisionAsk, 'action'>) {
  return acceptReprovision(d.accept, {
    serialNumber,
    ask: { ticket: 'INC0012345', requestedBy: 'Alex Service-Desk', ...body },
    idempotencyKey: undefined,
    correlationId: d.s.correlationId,
    statusUrl: `http://127.0.0.1/api/devices/${serialNumber}`,
  });
}

async function work(d: Desk, serialNumber: string): Promise<ReturnType<typeof carryOutRequest>> {
  const device = await d.s.device(serialNumber);
  const payload: ReprovisionPayload = { serialNumber, requestId: device.reprovision!.requestId };
  return carryOutRequest(d.s.deps, payload, d.s.correlationId, 0);
}

const tick = (d: Desk): TickPayload => ({ tick: 'reprovision', at: d.s.now().toISOString(), idle: 0 });

describe('Autopilot Reset', () => {
  it('wipes keeping enrolment data, waits for the action to be done on the same managed device, and ends enrolled', async () => {
    const d = await desk();
    const device = await enrolled(d.s, 'RP1A');
    const answer = await ask(d, 'RP1A', { action: 'autopilot-reset' });
    expect(answer.status).toBe(202);
    expect((await d.s.device('RP1A')).state).toBe('reprovisioning');
    const [message] = (await d.s.messages()).filter((m) => m.queue === 'ztp-reprovision');
    expect(message).toMatchObject({ kind: 'reprovision', messageId: `reprovision:${(answer.body as { requestId: string }).requestId}` });

    expect(await work(d, 'RP1A')).toEqual(DONE);
    expect(d.s.graphCalls()).toEqual(['GET managedDevices/{id} 200', 'POST managedDevices/{id}/wipe 204']);
    const sent = await d.s.device('RP1A');
    expect(sent.reprovision).toMatchObject({ stage: 'sent', managedDeviceId: device.managedDeviceId, actionBaseline: 'none' });

    // A redelivery of the same message sends nothing again.
    d.s.resetGraphCalls();
    expect(await work(d, 'RP1A')).toEqual(DONE);
    expect(d.s.graphCalls()).toEqual([]);

    // Before the device checks in, the poll waits; after, the entry is done.
    d.s.advance(2 * MINUTE);
    expect(await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0)).toEqual(DONE);
    expect((await d.s.device('RP1A')).state).toBe('reprovisioning');
    d.s.advance(4 * MINUTE);
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    const done = await d.s.device('RP1A');
    expect(done).toMatchObject({ state: 'enrolled', managedDeviceId: device.managedDeviceId, waitingFor: undefined });
    expect(done.reprovision).toMatchObject({ stage: 'done', action: 'autopilot-reset', ticket: 'INC0012345' });
    const events = await d.s.newEvents('RP1A');
    expect(events.map((e) => `${e.from}->${e.to} ${e.reason}`)).toEqual([
      'enrolled->reprovisioning reprovision-requested',
      'reprovisioning->enrolled reprovision-complete',
    ]);
    for (const event of events)
      expect(event.detail).toMatchObject({ requestId: (answer.body as { requestId: string }).requestId, ticket: 'INC0012345' });
    expect(JSON.stringify(events)).not.toContain('Alex');
  });

  it('a second wipe redelivered after a crash between sending and recording is not sent again', async () => {
    const d = await desk();
    await enrolled(d.s, 'RP2A');
    await ask(d, 'RP2A', { action: 'autopilot-reset' });
    // The worker recorded its intent and sent the wipe, then stopped before recording it.
    const before = await d.s.devices.get('RP2A');
    const request = before!.value.reprovision!;
    const managed = d.s.sim.managedDevices().find((m) => m.serialNumber === 'RP2A')!;
    await d.s.devices.save(
      { ...before!.value, reprovision: { ...request, stage: 'sending', managedDeviceId: managed.id, actionBaseline: 'none' } },
      before!,
    );
    await d.s.graph.runManagedDeviceAction(managed.id, { action: 'wipe', keepEnrollmentData: true, keepUserData: false });
    d.s.resetGraphCalls();

    await work(d, 'RP2A');
    expect(d.s.graphCalls()).toEqual(['GET managedDevices/{id} 200']);
    expect((await d.s.device('RP2A')).reprovision?.stage).toBe('sent');
    const entries = d.s.sim.managedDevices().find((m) => m.id === managed.id)!.deviceActionResults as unknown[];
    expect(entries).toHaveLength(1);
  });
});

describe('wipe', () => {
  it('ends enrolled once the device has enrolled again as a new managed device', async () => {
    const d = await desk();
    const device = await enrolled(d.s, 'RP3A');
    await ask(d, 'RP3A', { action: 'wipe' });
    await work(d, 'RP3A');
    expect(d.s.graphCalls()).toContain('POST managedDevices/{id}/wipe 204');

    d.s.advance(10 * MINUTE); // the wipe took effect: the Intune record is gone
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    expect((await d.s.device('RP3A')).state).toBe('reprovisioning');
    d.s.advance(30 * MINUTE); // enrolled again
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    const done = await d.s.device('RP3A');
    expect(done.state).toBe('enrolled');
    expect(done.managedDeviceId).toBeDefined();
    expect(done.managedDeviceId).not.toBe(device.managedDeviceId);
  });
});

describe('Fresh Start', () => {
  it('cleans the device, keeps it enrolled, and ends enrolled when the action is done', async () => {
    const d = await desk();
    const device = await enrolled(d.s, 'RP4A');
    await ask(d, 'RP4A', { action: 'fresh-start' });
    await work(d, 'RP4A');
    expect(d.s.graphCalls()).toEqual(['GET managedDevices/{id} 200', 'POST managedDevices/{id}/cleanWindowsDevice 204']);
    d.s.advance(6 * MINUTE);
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    expect(await d.s.device('RP4A')).toMatchObject({ state: 'enrolled', managedDeviceId: device.managedDeviceId });
  });
});

describe('retag', () => {
  it.each<[DeviceState, DeviceState]>([
    ['enrolled', 'enrolled'],
    ['registered', 'profile-assigned'],
    ['profile-assigned', 'profile-assigned'],
  ])('from %s: sets the tag, waits for a profile assigned for it, ends %s', async (from, to) => {
    const d = await desk();
    await enrolled(d.s, `RP5${from.slice(0, 3).toUpperCase()}`, from);
    const serial = `RP5${from.slice(0, 3).toUpperCase()}`;
    await ask(d, serial, { action: 'retag', groupTag: 'MPS-KIOSK' });
    await work(d, serial);
    expect(d.s.graphCalls()).toEqual([
      'GET windowsAutopilotDeviceIdentities/{id} 200',
      'POST windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties 204',
    ]);
    expect(d.s.sim.autopilotIdentities().find((i) => i.serialNumber === serial)?.groupTag).toBe('MPS-KIOSK');
    d.s.advance(5 * MINUTE);
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    expect((await d.s.device(serial)).state).toBe('reprovisioning');
    d.s.advance(11 * MINUTE); // the Kiosk profile is assigned about 15 minutes after the tag
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    const done = await d.s.device(serial);
    expect(done).toMatchObject({ state: to, groupTag: 'MPS-KIOSK', autopilotGroupTag: 'MPS-KIOSK' });
    if (to === 'profile-assigned') expect(done.waitingFor).toBe('enrolment');
  });
});

describe('deregister', () => {
  it('deletes the managed device first, then the Autopilot identity, and ends deregistered', async () => {
    const d = await desk();
    await enrolled(d.s, 'RP6A');
    await ask(d, 'RP6A', { action: 'deregister', allowReimport: true });
    await work(d, 'RP6A');
    // The managed device the Autopilot identity names goes first, then the identity.
    expect(d.s.graphCalls()).toEqual([
      'GET windowsAutopilotDeviceIdentities/{id} 200',
      'GET managedDevices/{id} 200',
      'DELETE managedDevices/{id} 204',
      'DELETE windowsAutopilotDeviceIdentities/{id} 204',
    ]);
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    const done = await d.s.device('RP6A');
    expect(done).toMatchObject({ state: 'deregistered', autopilotId: undefined, managedDeviceId: undefined });
    expect(done.reprovision).toMatchObject({ stage: 'done', allowReimport: true });
    expect(d.s.sim.autopilotIdentities().some((i) => i.serialNumber === 'RP6A')).toBe(false);
    expect(d.s.sim.managedDevices().some((m) => m.serialNumber === 'RP6A')).toBe(false);
  });

  it('a device Autopilot never had (owned by another tenant) is deregistered at once', async () => {
    const d = await desk();
    await d.s.given('RP7A', 'failed');
    await ask(d, 'RP7A', { action: 'deregister' });
    await work(d, 'RP7A');
    expect((await d.s.device('RP7A')).state).toBe('deregistered');
  });
});

describe('refusals and deadlines', () => {
  it('a managed device that is gone returns the device to where it was, with a reprovision-failed event', async () => {
    const d = await desk();
    const device = await enrolled(d.s, 'RP8A');
    await d.s.graph.deleteManagedDevice(device.managedDeviceId!);
    d.s.resetGraphCalls();
    await ask(d, 'RP8A', { action: 'autopilot-reset' });
    await work(d, 'RP8A');
    const back = await d.s.device('RP8A');
    expect(back.state).toBe('enrolled');
    expect(back.reprovision).toMatchObject({ stage: 'failed', failure: 'managed-device-gone' });
    expect((await d.s.newEvents('RP8A')).at(-1)).toMatchObject({ from: 'reprovisioning', to: 'enrolled', reason: 'reprovision-failed' });
    expect(d.s.logEvents('reprovision.failed')).toHaveLength(1);
    expect(d.s.graphCalls().filter((c) => c.startsWith('POST'))).toEqual([]);
  });

  it('past the deadline the device stalls, waiting for reprovision, with the request still on it', async () => {
    const d = await desk();
    await enrolled(d.s, 'RP9A');
    d.s.sim.setDeviceBoots('RP9A', false);
    await ask(d, 'RP9A', { action: 'wipe' });
    await work(d, 'RP9A');
    d.s.advance(DEADLINE_MS + MINUTE);
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    const stalled = await d.s.device('RP9A');
    expect(stalled).toMatchObject({ state: 'stalled', waitingFor: 'reprovision' });
    // The stage it stalled in is kept: a re-drive takes the request up again there.
    expect(stalled.reprovision).toMatchObject({ stage: 'stalled', stalledStage: 'sent', action: 'wipe' });
    expect(d.s.logEvents('reprovision.stalled')).toHaveLength(1);
  });

  it('a message for another request than the open one is stale and does nothing', async () => {
    const d = await desk();
    await enrolled(d.s, 'RPAA');
    await ask(d, 'RPAA', { action: 'fresh-start' });
    const result = await carryOutRequest(d.s.deps, { serialNumber: 'RPAA', requestId: randomUUID() }, d.s.correlationId, 0);
    expect(result).toEqual(DONE);
    expect(d.s.graphCalls()).toEqual([]);
  });

  it('two requests for one device: the second is refused while the first is open', async () => {
    const d = await desk();
    await enrolled(d.s, 'RPBA');
    const [first, second] = await Promise.all([ask(d, 'RPBA', { action: 'autopilot-reset' }), ask(d, 'RPBA', { action: 'wipe' })]);
    expect([first.status, second.status].sort()).toEqual([202, 409]);
  });
});

describe('redeliveries and failures found in review', () => {
  it('a wipe redelivered after it took effect is never sent to the device that enrolled again', async () => {
    const d = await desk();
    const device = await enrolled(d.s, 'RPCA');
    await ask(d, 'RPCA', { action: 'wipe' });
    // The worker saved its intent and sent the wipe; the answer was lost, so the stage stayed `sending`.
    const before = await d.s.devices.get('RPCA');
    await d.s.devices.save(
      {
        ...before!.value,
        reprovision: { ...before!.value.reprovision!, stage: 'sending', managedDeviceId: device.managedDeviceId, actionBaseline: 'none' },
      },
      before!,
    );
    await d.s.graph.runManagedDeviceAction(device.managedDeviceId!, { action: 'wipe', keepEnrollmentData: false, keepUserData: false });
    d.s.advance(40 * MINUTE); // wiped, then enrolled again as a new managed device
    const again = d.s.sim.managedDevices().find((m) => m.serialNumber === 'RPCA');
    expect(again?.id).toBeDefined();
    expect(again?.id).not.toBe(device.managedDeviceId);
    d.s.resetGraphCalls();

    await work(d, 'RPCA');

    expect(d.s.graphCalls().filter((c) => c.startsWith('POST'))).toEqual([]);
    expect((await d.s.device('RPCA')).reprovision?.stage).toBe('sent');
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    expect(await d.s.device('RPCA')).toMatchObject({ state: 'enrolled', managedDeviceId: again!.id });
  });

  it('a delivery that finds another one sending the action waits instead of sending a second', async () => {
    const d = await desk();
    const device = await enrolled(d.s, 'RPDA');
    await ask(d, 'RPDA', { action: 'autopilot-reset' });
    const before = await d.s.devices.get('RPDA');
    const sendingUntil = new Date(d.s.now().getTime() + MINUTE).toISOString();
    await d.s.devices.save(
      {
        ...before!.value,
        reprovision: {
          ...before!.value.reprovision!,
          stage: 'sending',
          managedDeviceId: device.managedDeviceId,
          actionBaseline: 'none',
          sendingUntil,
        },
      },
      before!,
    );
    const result = await work(d, 'RPDA');
    expect(result).toMatchObject({ kind: 'retry' });
    expect(d.s.graphCalls()).toEqual(['GET managedDevices/{id} 200']);
  });

  it('a request whose reads keep failing still stalls at its deadline', async () => {
    const d = await desk();
    await enrolled(d.s, 'RPEA');
    await ask(d, 'RPEA', { action: 'fresh-start' });
    await work(d, 'RPEA');
    d.s.advance(DEADLINE_MS + MINUTE);
    d.s.sim.setFaults({ errorRate5xx: 1 });
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    expect(await d.s.device('RPEA')).toMatchObject({ state: 'stalled', waitingFor: 'reprovision' });
  });

  it("a supplier's tag recorded before a reset is taken up again once the reset is done", async () => {
    const d = await desk();
    await enrolled(d.s, 'RPFA');
    const known = await d.s.devices.get('RPFA');
    await d.s.devices.save({ ...known!.value, groupTag: 'MPS-KIOSK', waitingFor: 'group-tag' }, known!);
    await ask(d, 'RPFA', { action: 'autopilot-reset' });
    await work(d, 'RPFA');
    d.s.advance(6 * MINUTE);
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    expect(await d.s.device('RPFA')).toMatchObject({
      state: 'enrolled',
      groupTag: 'MPS-KIOSK',
      autopilotGroupTag: 'MPS-STD',
      waitingFor: 'group-tag',
    });
    expect((await d.s.messages()).some((m) => m.kind === 'tick' && (m.payload as { tick: string }).tick === 'autopilot')).toBe(true);
  });

  it('a key retried after its request was overtaken by a later one answers 202 and starts nothing', async () => {
    const d = await desk();
    await enrolled(d.s, 'RPGA');
    // The first answer is never stored: the process stops right after the work was queued.
    const failing = {
      ...d.accept,
      idempotency: {
        ...d.accept.idempotency,
        get: d.accept.idempotency.get.bind(d.accept.idempotency),
        create: d.accept.idempotency.create.bind(d.accept.idempotency),
        purgeExpired: d.accept.idempotency.purgeExpired.bind(d.accept.idempotency),
        save: async () => {
          throw new Error('stopped before the answer was stored');
        },
      },
    };
    const input = {
      serialNumber: 'RPGA',
      ask: { action: 'fresh-start' as const, ticket: 'INC-K', requestedBy: 'x' },
      idempotencyKey: 'key-RPGA',
      correlationId: d.s.correlationId,
      statusUrl: 'http://127.0.0.1/api/devices/RPGA',
    };
    await expect(acceptReprovision(failing, input)).rejects.toThrow('stopped');
    const first = (await d.s.device('RPGA')).reprovision!.requestId;
    await work(d, 'RPGA');
    d.s.advance(6 * MINUTE);
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    // Another request comes and goes.
    expect((await ask(d, 'RPGA', { action: 'autopilot-reset' })).status).toBe(202);
    await work(d, 'RPGA');
    d.s.advance(6 * MINUTE);
    await pollReprovision(d.s.deps, tick(d), d.s.correlationId, 0);
    expect((await d.s.device('RPGA')).state).toBe('enrolled');
    d.s.resetGraphCalls();

    const retried = await acceptReprovision(d.accept, input);
    expect(retried).toMatchObject({ status: 202, body: { requestId: first } });
    expect((await d.s.device('RPGA')).state).toBe('enrolled');
    expect((await d.s.newEvents('RPGA')).filter((e) => e.reason === 'reprovision-requested')).toHaveLength(2);
  });
});
