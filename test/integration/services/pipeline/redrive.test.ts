import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchRecord } from '../../../../shared/domain/batch.js';
import { transition } from '../../../../shared/domain/device.js';
import type { ReprovisionRequest } from '../../../../shared/domain/reprovision-request.js';
import { EVENTS } from '../../../../shared/events.js';
import { deviceRedriveAnswer, batchRedriveAnswer } from '../../../../shared/http/redrive-answers.js';
import { redriveBatch, redriveDevice, redriveUpload, type RedriveDeps } from '../../../../shared/services/pipeline/redrive.js';
import { DONE } from '../../../../shared/services/pipeline/work.js';
import { HOUR, MINUTE, scheduledTick, startScenarioStack, type Scenario, type ScenarioStack } from '../../../support/scenario.js';

/**
 * The re-drive use case, called directly: what it asks Autopilot for a device stalled on its
 * import and what it then does, how the other stalled steps go back to their waits, and what it
 * sends on. The routes, `ztp redrive` and a repeat upload end to end are in
 * test/integration/functions/redrive-api.test.ts.
 */

const LIST_IMPORTED = 'GET importedWindowsAutopilotDeviceIdentities';
const DELETE_IMPORTED = 'DELETE importedWindowsAutopilotDeviceIdentities/{id}';
const FIND_BY_SERIAL = 'GET windowsAutopilotDeviceIdentities';
const SYNC = 'POST windowsAutopilotSettings/sync';
const REQUEST_ID = '3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5f6';

let scenarios: ScenarioStack;

beforeAll(async () => {
  scenarios = await startScenarioStack();
});

afterAll(async () => {
  await scenarios?.stop();
});

const depsOf = (s: Scenario, overrides: Partial<RedriveDeps> = {}): RedriveDeps => ({
  ...s.deps,
  devices: s.devices,
  batches: s.batches,
  ...overrides,
});

/** A device stalled on its import three hours after its claim (the deadline is two hours). */
async function stalledOnImport(s: Scenario, serial: string): Promise<void> {
  await s.given(serial, 'stalled');
}

/** Autopilot got the stalled device's import after all (its call went through; the answer was lost). */
async function autopilotGotImport(s: Scenario, serial: string): Promise<void> {
  const result = await s.graph.importDevices(s.importInputs(await s.device(serial)));
  expect(result.ok).toBe(true);
}

function request(fields: Partial<ReprovisionRequest>): ReprovisionRequest {
  return {
    requestId: REQUEST_ID,
    action: 'wipe',
    ticket: 'INC9',
    requestedBy: 'desk',
    requestedAt: '2025-03-02T09:00:00.000Z',
    fromState: 'enrolled',
    stage: 'stalled',
    ...fields,
  };
}

describe('re-driving a device stalled on its import', () => {
  it('submits it again, under a fresh claim, only once Autopilot has shown it never saw it', async () => {
    const s = await scenarios.scenario();
    await stalledOnImport(s, 'RD1A');
    s.advance(3 * HOUR);
    s.resetGraphCalls();

    const outcome = await redriveDevice(depsOf(s), 'RD1A', s.correlationId, 'route');

    expect(outcome).toEqual({
      kind: 'redriven',
      serialNumber: 'RD1A',
      state: 'received',
      stalledOn: 'import',
      outcome: 'not-in-autopilot',
    });
    expect(deviceRedriveAnswer(outcome)).toMatchObject({ status: 202, jsonBody: { serial: 'RD1A', state: 'received' } });
    // The imported records by import id, then the identity by serial; nothing is submitted here.
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`, `${FIND_BY_SERIAL} 200`]);
    const device = await s.device('RD1A');
    expect(device).toMatchObject({ state: 'received', importId: undefined, waitingFor: undefined, deadlineAt: undefined });
    expect(device.hardwareHash).toBeDefined();
    expect(await s.newEvents('RD1A')).toEqual([
      { from: 'stalled', to: 'received', reason: 'redriven', detail: { waitingFor: 'import', outcome: 'not-in-autopilot' } },
    ]);
    expect(await s.messages()).toEqual([
      {
        queue: 'ztp-import',
        kind: 'import-chunk',
        messageId: expect.stringMatching(/^redrive:[0-9a-f]{40}$/),
        payload: { source: { kind: 'redrive' }, serialNumbers: ['RD1A'] },
      },
    ]);
    expect(s.logEvents(EVENTS.redriveRun)).toEqual([
      expect.objectContaining({ source: 'route', serial: 'RD1A', redriven: 1, serials: ['RD1A'], notStalled: 0, deferred: [] }),
    ]);

    // Asked again: no longer stalled, so left alone, without asking Autopilot anything.
    s.resetGraphCalls();
    const again = await redriveDevice(depsOf(s), 'RD1A', s.correlationId, 'route');
    expect(again).toEqual({ kind: 'not-stalled', serialNumber: 'RD1A', state: 'received' });
    expect(deviceRedriveAnswer(again)).toMatchObject({ status: 409, jsonBody: { error: { code: 'not-stalled', state: 'received' } } });
    expect(s.graphCalls()).toEqual([]);
    expect(await s.newEvents('RD1A')).toHaveLength(1);
    expect(await redriveDevice(depsOf(s), 'RD1-NOBODY', s.correlationId, 'route')).toBeUndefined();
    expect(deviceRedriveAnswer(undefined)).toMatchObject({ status: 404, jsonBody: { error: { code: 'device-not-found' } } });
  });

  it('sends it back to waiting on its import, with a fresh deadline, while Autopilot is still importing it', async () => {
    const s = await scenarios.scenario({ simulator: { latencies: { importSeconds: 10 * 3600 } } });
    await stalledOnImport(s, 'RD2A');
    await autopilotGotImport(s, 'RD2A');
    s.advance(3 * HOUR);
    s.resetGraphCalls();

    const outcome = await redriveDevice(depsOf(s), 'RD2A', s.correlationId, 'route');

    expect(outcome).toMatchObject({ kind: 'redriven', state: 'importing', outcome: 'import-pending' });
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`]);
    expect(await s.device('RD2A')).toMatchObject({
      state: 'importing',
      importId: 'ztp-claim-RD2A',
      waitingFor: 'import',
      waitingSince: s.at(3 * HOUR).toISOString(),
      deadlineAt: s.at(5 * HOUR).toISOString(),
    });
    expect(await s.messages()).toEqual([scheduledTick('imports', s.at(3 * HOUR + MINUTE))]);
  });

  it('registers one whose import completed after it stalled, and cleans up the record', async () => {
    const s = await scenarios.scenario();
    await stalledOnImport(s, 'RD3A');
    await autopilotGotImport(s, 'RD3A');
    s.advance(3 * HOUR);
    s.resetGraphCalls();

    expect(await redriveDevice(depsOf(s), 'RD3A', s.correlationId, 'route')).toMatchObject({
      kind: 'redriven',
      state: 'registered',
      outcome: 'import-complete',
    });

    const identity = s.sim.autopilotIdentities().find((i) => i.serialNumber === 'RD3A')!;
    expect(await s.device('RD3A')).toMatchObject({
      state: 'registered',
      autopilotId: identity.id,
      autopilotGroupTag: 'MPS-STD',
      hardwareHash: undefined,
      waitingFor: 'profile-assignment',
      deadlineAt: s.at(3 * HOUR + 72 * HOUR).toISOString(),
      reasons: [],
    });
    expect(await s.newEvents('RD3A')).toEqual([
      {
        from: 'stalled',
        to: 'registered',
        reason: 'redriven',
        detail: { waitingFor: 'import', outcome: 'import-complete', autopilotId: identity.id },
      },
    ]);
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`, `${SYNC} 204`, `${DELETE_IMPORTED} 204`]);
    expect(s.importedRecords()).toEqual([]);
    expect(await s.messages()).toEqual([scheduledTick('autopilot', s.at(3 * HOUR + MINUTE))]);
  });

  it('registers one Autopilot already has by its serial, without importing it again (an 806, reconciled)', async () => {
    const s = await scenarios.scenario();
    const existing = s.sim.addAutopilotIdentity({ serialNumber: 'RD4A', groupTag: 'MPS-KIOSK' });
    await stalledOnImport(s, 'RD4A');
    s.advance(3 * HOUR);
    s.resetGraphCalls();

    expect(await redriveDevice(depsOf(s), 'RD4A', s.correlationId, 'upload')).toMatchObject({
      kind: 'redriven',
      state: 'registered',
      outcome: 'already-registered',
    });

    expect(await s.device('RD4A')).toMatchObject({
      state: 'registered',
      autopilotId: existing.id,
      autopilotGroupTag: 'MPS-KIOSK',
      groupTag: 'MPS-STD',
      reasons: ['already-registered'],
    });
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`, `${FIND_BY_SERIAL} 200`, `${SYNC} 204`]);
    expect(await s.messages()).toEqual([scheduledTick('autopilot', s.at(3 * HOUR + MINUTE))]);
    expect(s.sim.autopilotIdentities().filter((i) => i.serialNumber === 'RD4A')).toHaveLength(1);
  });

  it('fails one Autopilot refused (808) with the reason the supplier can act on', async () => {
    const s = await scenarios.scenario();
    s.sim.addOtherTenantSerial('RD5A');
    await stalledOnImport(s, 'RD5A');
    await autopilotGotImport(s, 'RD5A');
    s.advance(3 * HOUR);

    expect(await redriveDevice(depsOf(s), 'RD5A', s.correlationId, 'route')).toMatchObject({
      kind: 'redriven',
      state: 'failed',
      outcome: 'owned-by-other-tenant',
    });
    expect(await s.device('RD5A')).toMatchObject({ state: 'failed', reasons: ['owned-by-other-tenant'], waitingFor: undefined });
    expect(s.importedRecords()).toEqual([]);
  });

  it('changes nothing when Autopilot cannot be asked, and says when to ask again', async () => {
    const s = await scenarios.scenario({ simulator: { throttle: { requestsPer20s: 0 } } });
    const stalled = await s.given('RD6A', 'stalled');
    s.advance(3 * HOUR);

    const outcome = await redriveDevice(depsOf(s), 'RD6A', s.correlationId, 'route');

    expect(outcome).toMatchObject({ kind: 'deferred', serialNumber: 'RD6A', failure: { kind: 'throttled' } });
    expect((await s.devices.get('RD6A'))?.etag).toBe(stalled.etag);
    expect(await s.messages()).toEqual([]);
    expect(deviceRedriveAnswer(outcome)).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '20' },
      jsonBody: { error: { code: 'autopilot-unavailable' } },
    });
  });

  it('decides again from a fresh read when the device moved on meanwhile: a late result the poll found is left alone', async () => {
    const s = await scenarios.scenario();
    await stalledOnImport(s, 'RD7A');
    s.advance(3 * HOUR);
    let raced = false;
    const racing: RedriveDeps['devices'] = {
      get: (serial) => s.devices.get(serial),
      create: (record, event) => s.devices.create(record, event),
      matching: (clauses) => s.devices.matching(clauses),
      async save(next, from, event) {
        if (!raced) {
          raced = true;
          // The import poll registers it first.
          const current = (await s.devices.get(next.serialNumber))!;
          const moved = transition(current.value, {
            to: 'registered',
            reason: 'import-complete',
            correlationId: 'poll',
            now: s.now(),
            changes: { autopilotId: 'ap-late' },
          });
          await s.devices.save(moved.record, current, moved.event);
        }
        return s.devices.save(next, from, event);
      },
    };

    expect(await redriveDevice(depsOf(s, { devices: racing }), 'RD7A', s.correlationId, 'route')).toEqual({
      kind: 'not-stalled',
      serialNumber: 'RD7A',
      state: 'registered',
    });
    expect((await s.newEvents('RD7A')).map((event) => event.reason)).toEqual(['import-complete']);
    expect(await s.messages()).toEqual([]);
  });
});

describe('re-driving a device stalled on another step', () => {
  it('sends one stalled on its profile or its enrolment back to that wait, for the Autopilot poll', async () => {
    const s = await scenarios.scenario();
    await s.given('RD8A', 'stalled', { waitingFor: 'profile-assignment', autopilotId: 'ap-8a', hardwareHash: undefined });
    await s.given('RD8B', 'stalled', { waitingFor: 'enrolment', autopilotId: 'ap-8b', hardwareHash: undefined });
    s.advance(80 * HOUR);
    s.resetGraphCalls();

    expect(await redriveDevice(depsOf(s), 'RD8A', s.correlationId, 'route')).toMatchObject({ state: 'registered', outcome: 'resumed' });
    expect(await redriveDevice(depsOf(s), 'RD8B', s.correlationId, 'route')).toMatchObject({
      state: 'profile-assigned',
      outcome: 'resumed',
    });

    expect(s.graphCalls()).toEqual([]);
    expect(await s.device('RD8A')).toMatchObject({
      state: 'registered',
      waitingFor: 'profile-assignment',
      deadlineAt: s.at(80 * HOUR + 72 * HOUR).toISOString(),
    });
    expect(await s.device('RD8B')).toMatchObject({ state: 'profile-assigned', waitingFor: 'enrolment' });
    expect(await s.newEvents('RD8A')).toEqual([
      { from: 'stalled', to: 'registered', reason: 'redriven', detail: { waitingFor: 'profile-assignment', outcome: 'resumed' } },
    ]);
    expect(await s.messages()).toEqual([scheduledTick('autopilot', s.at(80 * HOUR + MINUTE))]);
  });

  it('takes a stalled service-desk request up again where it stalled: the poll after the call, the worker before it', async () => {
    const s = await scenarios.scenario();
    const sent = request({ stalledStage: 'sent', sentAt: '2025-03-02T09:01:00.000Z', managedDeviceId: 'md-9a' });
    await s.given('RD9A', 'stalled', { waitingFor: 'reprovision', autopilotId: 'ap-9a', reprovision: sent });
    await s.given('RD9B', 'stalled', {
      waitingFor: 'reprovision',
      autopilotId: 'ap-9b',
      reprovision: request({ requestId: '3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5f7', stalledStage: 'accepted' }),
    });
    s.advance(25 * HOUR);

    expect(await redriveDevice(depsOf(s), 'RD9A', s.correlationId, 'route')).toMatchObject({
      state: 'reprovisioning',
      stalledOn: 'reprovision',
    });
    expect(await redriveDevice(depsOf(s), 'RD9B', s.correlationId, 'route')).toMatchObject({ state: 'reprovisioning' });

    const resumed = await s.device('RD9A');
    expect(resumed).toMatchObject({
      state: 'reprovisioning',
      waitingFor: 'reprovision',
      deadlineAt: s.at(25 * HOUR + 24 * HOUR).toISOString(),
    });
    expect(resumed.reprovision).toEqual({ ...sent, stage: 'sent', stalledStage: undefined });
    expect((await s.device('RD9B')).reprovision).toMatchObject({ stage: 'accepted' });
    expect(await s.newEvents('RD9A')).toEqual([
      {
        from: 'stalled',
        to: 'reprovisioning',
        reason: 'redriven',
        detail: { requestId: REQUEST_ID, action: 'wipe', ticket: 'INC9', waitingFor: 'reprovision', outcome: 'resumed', stage: 'sent' },
      },
    ]);
    const sequence = (await s.device('RD9B')).eventCount;
    expect(await s.messages()).toEqual([
      scheduledTick('reprovision', s.at(25 * HOUR + MINUTE)),
      {
        queue: 'ztp-reprovision',
        kind: 'reprovision',
        messageId: `reprovision:3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5f7:redrive:${sequence}`,
        payload: { serialNumber: 'RD9B', requestId: '3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5f7' },
      },
    ]);
  });
});

function batch(batchId: string): BatchRecord {
  return {
    batchId,
    supplierId: 'contoso',
    fileName: 'given.csv',
    blobName: 'contoso/given.csv',
    contentSha256: 'x',
    sizeBytes: 1,
    status: 'complete',
    receivedAt: '2025-03-03T09:00:00.000Z',
    completedAt: '2025-03-03T09:00:00.000Z',
    format: 'intune',
    encoding: 'utf-8',
    fileRejection: undefined,
    counts: {},
    reportBlob: 'contoso/given.csv.result.csv',
    correlationId: 'given',
  };
}

describe('re-driving a file', () => {
  it('reopens a settled file whose devices it re-drove, so it settles again with their new outcomes', async () => {
    const s = await scenarios.scenario();
    await s.batches.create({ ...batch('batch-given'), status: 'settled', settledAt: s.now().toISOString() });
    await stalledOnImport(s, 'RDZA');
    s.advance(3 * HOUR);
    await redriveBatch(depsOf(s), 'batch-given', s.correlationId, 'route');
    const reopened = (await s.batches.get('batch-given'))?.value;
    expect(reopened?.status).toBe('complete');
    expect(reopened?.settledAt).toBeUndefined();
    expect(s.logEvents('batch.reopened')).toHaveLength(1);
  });

  it("re-drives only the file's stalled devices, asking Autopilot once for all of them when many need asking", async () => {
    const s = await scenarios.scenario();
    await s.batches.create(batch('batch-given'));
    s.sim.addAutopilotIdentity({ serialNumber: 'RDAC', groupTag: 'MPS-STD' });
    for (const serial of ['RDAA', 'RDAB', 'RDAC']) await stalledOnImport(s, serial);
    const busy = await s.given('RDAD', 'importing');
    s.advance(3 * HOUR);
    s.resetGraphCalls();

    // Three to look for by serial, more than one read each is worth here: one listing of the identities.
    const result = await redriveBatch(depsOf(s, { perDeviceReadLimit: 2 }), 'batch-given', s.correlationId, 'route');

    expect(result?.devices.map((device) => [device.serialNumber, device.kind, 'state' in device ? device.state : ''])).toEqual([
      ['RDAA', 'redriven', 'received'],
      ['RDAB', 'redriven', 'received'],
      ['RDAC', 'redriven', 'registered'],
    ]);
    expect(batchRedriveAnswer(result)).toMatchObject({
      status: 202,
      jsonBody: { batchId: 'batch-given', redriven: 3, serials: ['RDAA', 'RDAB', 'RDAC'] },
    });
    expect(s.sim.requestLog().map((entry) => `${entry.route} ${entry.url.includes('$filter') ? 'filtered' : 'all'}`)).toEqual([
      `${LIST_IMPORTED} all`,
      `${FIND_BY_SERIAL} all`,
      `${SYNC} all`,
    ]);
    expect((await s.devices.get('RDAD'))?.etag).toBe(busy.etag);
    const imports = (await s.messages()).filter((message) => message.queue === 'ztp-import');
    expect(imports.map((message) => message.payload)).toEqual([{ source: { kind: 'redrive' }, serialNumbers: ['RDAA', 'RDAB'] }]);
    expect(await redriveBatch(depsOf(s), 'no-such-batch', s.correlationId, 'route')).toBeUndefined();
    expect(batchRedriveAnswer(undefined)).toMatchObject({ status: 404, jsonBody: { error: { code: 'batch-not-found' } } });
  });

  it('as a repeat upload: tries again, when Graph allows, only the devices Autopilot could not be asked about', async () => {
    const s = await scenarios.scenario();
    await s.batches.create(batch('batch-given'));
    await s.given('RDBA', 'stalled', { waitingFor: 'profile-assignment', autopilotId: 'ap-ba' });
    await stalledOnImport(s, 'RDBB');
    s.advance(3 * HOUR);
    const throttled: RedriveDeps['graph'] = {
      ...s.graph,
      listImportedIdentities: async () => ({ ok: false, kind: 'throttled', retryAfterMs: 5000, source: 'graph' }),
    };

    const result = await redriveUpload(depsOf(s, { graph: throttled }), { batchId: 'batch-given' }, s.correlationId, 0);

    expect(result).toEqual({
      kind: 'retry',
      reason: 'throttled',
      at: s.at(3 * HOUR + 5000),
      detail: 're-driving stalled devices: throttled (graph)',
      payload: { batchId: 'batch-given', serialNumbers: ['RDBB'] },
    });
    expect((await s.device('RDBA')).state).toBe('registered');
    expect((await s.device('RDBB')).state).toBe('stalled');
    expect(s.logEvents(EVENTS.redriveRun)).toEqual([
      expect.objectContaining({ source: 'upload', batchId: 'batch-given', redriven: 1, serials: ['RDBA'], deferred: ['RDBB'] }),
    ]);

    // The retry: just RDBB, now that Graph answers.
    expect(await redriveUpload(depsOf(s), { batchId: 'batch-given', serialNumbers: ['RDBB'] }, s.correlationId, 0)).toEqual(DONE);
    expect((await s.device('RDBB')).state).toBe('received');
  });
});
