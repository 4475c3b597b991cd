import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS } from '../../../../shared/events.js';
import { DONE } from '../../../../shared/services/pipeline/work.js';
import { importChunk } from '../../../../shared/services/pipeline/import-chunk.js';
import type { ImportChunkPayload } from '../../../../shared/messages/index.js';
import type { PipelineDeps } from '../../../../shared/services/pipeline/context.js';
import { MINUTE, scheduledTick, SECOND, startScenarioStack, type Scenario, type ScenarioStack } from '../../../support/scenario.js';

/**
 * importChunk, called directly: which devices it claims, what it submits to Autopilot in
 * which requests, and what it leaves for the import poll or its own retry.
 */

const IMPORT = 'POST importedWindowsAutopilotDeviceIdentities/import';

let scenarios: ScenarioStack;

beforeAll(async () => {
  scenarios = await startScenarioStack();
});

afterAll(async () => {
  await scenarios?.stop();
});

const fromFile = (...serialNumbers: string[]): ImportChunkPayload => ({
  source: { kind: 'file', batchId: 'batch-given', chunk: 0 },
  serialNumbers,
});

/** Import ids Autopilot holds records for, by serial. */
function recordsBySerial(s: Scenario): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const record of s.importedRecords()) (out[record.serialNumber] ??= []).push(record.importId);
  return out;
}

describe('importChunk', () => {
  it('claims fresh devices and submits them together in one import request', async () => {
    const s = await scenarios.scenario();
    // Given three devices just accepted from a file at T0.
    for (const serial of ['IC1A', 'IC1B', 'IC1C']) await s.given(serial, 'received');

    const result = await importChunk(s.deps, fromFile('IC1A', 'IC1B', 'IC1C'), s.correlationId, 0);

    expect(result).toEqual(DONE);
    const claimed = await Promise.all(['IC1A', 'IC1B', 'IC1C'].map((serial) => s.device(serial)));
    for (const device of claimed) {
      expect(device).toMatchObject({
        state: 'importing',
        importId: expect.stringMatching(/^ztp-/),
        waitingFor: 'import',
        waitingSince: s.at(0).toISOString(),
        deadlineAt: s.at(120 * MINUTE).toISOString(),
        pollAttempt: 0,
      });
      // The hash is still needed: a lost import is submitted again from the record.
      expect(device.hardwareHash).toBeDefined();
      expect(await s.newEvents(device.serialNumber)).toEqual([{ from: 'received', to: 'importing', reason: 'import-submitted' }]);
    }
    expect(s.graphCalls()).toEqual([`${IMPORT} 200`]);
    expect(recordsBySerial(s)).toEqual(Object.fromEntries(claimed.map((d) => [d.serialNumber, [d.importId]])));
    expect(await s.messages()).toEqual([scheduledTick('imports', s.at(1 * MINUTE))]);
  });

  it('does not submit a device twice when another delivery of the same work claims it first', async () => {
    const s = await scenarios.scenario();
    for (const serial of ['IC2A', 'IC2B']) await s.given(serial, 'received');
    const payload = fromFile('IC2A', 'IC2B');

    // A redelivery of the same message runs to the end while this delivery sits between
    // reading the devices and claiming them: this one's claims then meet newer ETags.
    let redelivery: Promise<unknown> | undefined;
    const racing: PipelineDeps = {
      ...s.deps,
      devices: {
        get: async (serial) => {
          const seen = await s.devices.get(serial);
          redelivery ??= importChunk(s.deps, payload, 'redelivery', 0);
          await redelivery;
          return seen;
        },
        create: (record, event) => s.devices.create(record, event),
        save: (record, current, event) => s.devices.save(record, current, event),
        matching: (clauses) => s.devices.matching(clauses),
      },
    };

    expect(await importChunk(racing, payload, s.correlationId, 0)).toEqual(DONE);
    await redelivery;

    // One request, from the redelivery; each device claimed once, by it.
    expect(s.graphCalls()).toEqual([`${IMPORT} 200`]);
    const a = await s.device('IC2A');
    const b = await s.device('IC2B');
    expect(recordsBySerial(s)).toEqual({ IC2A: [a.importId], IC2B: [b.importId] });
    for (const serial of ['IC2A', 'IC2B']) {
      expect(await s.newEvents(serial)).toEqual([{ from: 'received', to: 'importing', reason: 'import-submitted' }]);
      const history = await s.devices.history(serial);
      expect(history.at(-1)?.correlationId).toBe('redelivery');
    }
  });

  it('leaves a claim it does not hold to the import poll, without asking Autopilot', async () => {
    const s = await scenarios.scenario();
    // Claimed at T0 by a delivery whose import call may still be on its way.
    const claimed = await s.given('IC3A', 'importing');
    s.advance(30 * SECOND);

    expect(await importChunk(s.deps, fromFile('IC3A'), s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([]);
    expect((await s.devices.get('IC3A'))?.etag).toBe(claimed.etag);
    // The poll is still asked for: it is what finds the claim's record, or its absence.
    expect(await s.messages()).toEqual([scheduledTick('imports', s.at(30 * SECOND + 1 * MINUTE))]);
  });

  it('leaves old claims it does not hold to the import poll too, with no listing of the tenant', async () => {
    const s = await scenarios.scenario();
    const lost = await s.given('IC4A', 'importing', { importId: 'ztp-lost-IC4A' });
    const kept = await s.given('IC4B', 'importing', { importId: 'ztp-kept-IC4B' });
    // Autopilot has IC4B's import (its call got through); IC4A's call never arrived.
    expect((await s.graph.importDevices(s.importInputs(kept.value))).ok).toBe(true);
    s.resetGraphCalls();
    s.advance(10 * MINUTE);

    // A re-queue that names them but holds neither claim: whether either call arrived is
    // known only from the listing, which the import poll makes anyway.
    const payload: ImportChunkPayload = { source: { kind: 'sweeper' }, serialNumbers: ['IC4A', 'IC4B'] };
    expect(await importChunk(s.deps, payload, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([]);
    expect((await s.devices.get('IC4A'))?.etag).toBe(lost.etag);
    expect((await s.devices.get('IC4B'))?.etag).toBe(kept.etag);
    expect(await s.messages()).toEqual([scheduledTick('imports', s.at(10 * MINUTE + 1 * MINUTE))]);
  });

  it('submits the claims its message says never reached Autopilot, each under a claim made afresh, with no listing', async () => {
    const s = await scenarios.scenario();
    // The import poll found no record of either claim (made at T0).
    const a0 = await s.given('IC8A', 'importing', { importId: 'ztp-unsent-IC8A' });
    const b0 = await s.given('IC8B', 'importing', { importId: 'ztp-unsent-IC8B' });
    const moved = await s.given('IC8C', 'importing', { importId: 'ztp-newer-IC8C' });
    s.advance(3 * MINUTE);

    const payload: ImportChunkPayload = {
      source: { kind: 'resubmit', pollAt: s.at(0).toISOString() },
      serialNumbers: ['IC8A', 'IC8B', 'IC8C'],
      // IC8C has been claimed again since (another import id): not this message's to send.
      unsent: { IC8A: 'ztp-unsent-IC8A', IC8B: 'ztp-unsent-IC8B', IC8C: 'ztp-unsent-IC8C' },
    };
    expect(await importChunk(s.deps, payload, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${IMPORT} 200`]);
    const a = await s.device('IC8A');
    const b = await s.device('IC8B');
    for (const [after, before] of [
      [a, a0],
      [b, b0],
    ] as const) {
      expect(after.importId).toMatch(/^ztp-/);
      expect(after.importId).not.toBe(before.value.importId);
      expect(after.waitingSince).toBe(s.at(3 * MINUTE).toISOString());
    }
    expect(recordsBySerial(s)).toEqual({ IC8A: [a.importId], IC8B: [b.importId] });
    expect((await s.devices.get('IC8C'))?.etag).toBe(moved.etag);
    // A fresh import id for the same claim: no transition.
    for (const serial of ['IC8A', 'IC8B']) expect(await s.newEvents(serial)).toEqual([]);
  });

  it('does not send a request again whose answer was lost: its devices stay claimed for the import poll', async () => {
    // The import takes effect, then the connection drops: nobody knows whether it arrived.
    const s = await scenarios.scenario({ simulator: { faults: { dropAfterEffectRate: 1 } } });
    for (const serial of ['IC9A', 'IC9B']) await s.given(serial, 'received');

    expect(await importChunk(s.deps, fromFile('IC9A', 'IC9B'), s.correlationId, 0)).toEqual(DONE);

    const claimed = await Promise.all(['IC9A', 'IC9B'].map((serial) => s.device(serial)));
    expect(claimed.map((device) => device.state)).toEqual(['importing', 'importing']);
    // Autopilot has them, once each; no retry that would send them again.
    expect(recordsBySerial(s)).toEqual(Object.fromEntries(claimed.map((d) => [d.serialNumber, [d.importId]])));
    expect(s.logEvents(EVENTS.importInDoubt)).toEqual([expect.objectContaining({ rows: 2 })]);
    expect(await s.messages()).toEqual([scheduledTick('imports', s.at(1 * MINUTE))]);
  });

  it('sends no request once its claims are past their send window: the rest goes to the retry, claimed afresh there', async () => {
    // Requests of two; the first takes so long (on the scenario clock) that the window closes.
    const s = await scenarios.scenario({ importChunkSize: 2 });
    const serials = ['ICW1', 'ICW2', 'ICW3', 'ICW4'];
    for (const serial of serials) await s.given(serial, 'received');
    const slow: PipelineDeps = {
      ...s.deps,
      graph: {
        ...s.deps.graph,
        importDevices: async (devices, options) => {
          const answer = await s.deps.graph.importDevices(devices, options);
          s.advance(61 * SECOND);
          return answer;
        },
      },
    };

    const result = await importChunk(slow, fromFile(...serials), s.correlationId, 0);

    expect(s.graphCalls()).toEqual([`${IMPORT} 200`]);
    const left = await Promise.all(['ICW3', 'ICW4'].map((serial) => s.device(serial)));
    // Slowness, not a fault: rescheduled at once, as throttling is, with no attempt spent.
    expect(result).toMatchObject({
      kind: 'retry',
      reason: 'throttled',
      at: s.at(61 * SECOND),
      payload: { serialNumbers: ['ICW3', 'ICW4'], unsent: { ICW3: left[0]!.importId, ICW4: left[1]!.importId } },
    });

    s.resetGraphCalls();
    const retried = result.kind === 'retry' ? (result.payload as ImportChunkPayload) : fromFile(...serials);
    expect(await importChunk(s.deps, retried, s.correlationId, 1)).toEqual(DONE);
    expect(s.graphCalls()).toEqual([`${IMPORT} 200`]);
    const imported = await Promise.all(serials.map((serial) => s.device(serial)));
    // Sent under fresh claims, each device once.
    expect(imported[2]!.importId).not.toBe(left[0]!.importId);
    expect(recordsBySerial(s)).toEqual(Object.fromEntries(imported.map((d) => [d.serialNumber, [d.importId]])));
  });

  it('splits a request Autopilot refuses for its size until the halves go through, and sends the chunk after it', async () => {
    // Requests of three devices, and an Autopilot that takes at most two per request.
    const s = await scenarios.scenario({ importChunkSize: 3, simulator: { maxImportBatchSize: 2 } });
    const serials = ['IC5A', 'IC5B', 'IC5C', 'IC5D', 'IC5E'];
    for (const serial of serials) await s.given(serial, 'received');

    expect(await importChunk(s.deps, fromFile(...serials), s.correlationId, 0)).toEqual(DONE);

    // [A B C] refused; its halves [A B] and [C] go through; then [D E].
    expect(s.graphCalls()).toEqual([`${IMPORT} 400`, `${IMPORT} 200`, `${IMPORT} 200`, `${IMPORT} 200`]);
    const devices = await Promise.all(serials.map((serial) => s.device(serial)));
    expect(devices.map((device) => device.state)).toEqual(['importing', 'importing', 'importing', 'importing', 'importing']);
    expect(recordsBySerial(s)).toEqual(Object.fromEntries(devices.map((d) => [d.serialNumber, [d.importId]])));
    for (const serial of serials)
      expect(await s.newEvents(serial)).toEqual([{ from: 'received', to: 'importing', reason: 'import-submitted' }]);
    expect(s.logEvents(EVENTS.importRefused)).toHaveLength(1);
    expect(s.logEvents(EVENTS.importBisected)).toEqual([
      expect.objectContaining({ rows: 3, refused: 0, imported: 3, unsent: 0, requests: 2 }),
    ]);
  });

  it("bisects a refused request of 100 down to the one row Autopilot refuses: only it fails, with Graph's message, in 15 requests", async () => {
    const serials = Array.from({ length: 100 }, (_, index) => `ICB-${String(index + 1).padStart(3, '0')}`);
    const bad = 'ICB-037';
    const s = await scenarios.scenario({ importChunkSize: 100, simulator: { refuseImportRowsWhere: (row) => row.serialNumber === bad } });
    for (const serial of serials) await s.given(serial, 'received');

    expect(await importChunk(s.deps, fromFile(...serials), s.correlationId, 0)).toEqual(DONE);

    // The whole request, then two halves per level down to one row: 1 + 2 * ceil(log2 100) = 15.
    const calls = s.graphCalls();
    expect(calls).toHaveLength(15);
    expect(calls[0]).toBe(`${IMPORT} 400`);
    expect(calls.filter((call) => call === `${IMPORT} 400`)).toHaveLength(8); // 100, 50, 25, 13, 6, 3, 2, 1
    expect(calls.filter((call) => call === `${IMPORT} 200`)).toHaveLength(7);

    const message = 'InvalidZtdRequestBody (801): the request holds a device identity that cannot be read; no device was imported.';
    expect(await s.device(bad)).toMatchObject({
      state: 'failed',
      reasons: ['autopilot-error'],
      note: `Autopilot refused the import of this device on its own: 400 BadRequest: ${message}`,
      waitingFor: undefined,
      deadlineAt: undefined,
    });
    expect(await s.newEvents(bad)).toEqual([
      { from: 'received', to: 'importing', reason: 'import-submitted' },
      { from: 'importing', to: 'failed', reason: 'autopilot-error', detail: { code: '400 BadRequest', message } },
    ]);
    // Every other device was imported, once, under its claim.
    const others = await Promise.all(serials.filter((serial) => serial !== bad).map((serial) => s.device(serial)));
    expect(others.every((device) => device.state === 'importing')).toBe(true);
    expect(recordsBySerial(s)).toEqual(Object.fromEntries(others.map((d) => [d.serialNumber, [d.importId]])));
    expect(s.logEvents(EVENTS.importRefused)).toHaveLength(8);
    expect(s.logEvents(EVENTS.importBisected)).toEqual([
      expect.objectContaining({ rows: 100, refused: 1, imported: 99, unsent: 0, requests: 14 }),
    ]);
    expect(await s.messages()).toEqual([scheduledTick('imports', s.at(1 * MINUTE))]);
  });

  it('fails every row of a request whose rows Autopilot all refuses, each refused on its own once: 2n - 1 requests', async () => {
    const serials = ['ICR1', 'ICR2', 'ICR3', 'ICR4', 'ICR5', 'ICR6', 'ICR7', 'ICR8'];
    const s = await scenarios.scenario({ simulator: { refuseImportRowsWhere: () => true } });
    for (const serial of serials) await s.given(serial, 'received');

    expect(await importChunk(s.deps, fromFile(...serials), s.correlationId, 0)).toEqual(DONE);

    // Each refused group is split once; no row is sent alone twice: 8 + 4 + 2 + 1 = 15 requests.
    expect(s.graphCalls()).toEqual(Array.from({ length: 15 }, () => `${IMPORT} 400`));
    for (const serial of serials) expect(await s.device(serial)).toMatchObject({ state: 'failed', reasons: ['autopilot-error'] });
    expect(s.importedRecords()).toEqual([]);
    expect(s.logEvents(EVENTS.importBisected)).toEqual([
      expect.objectContaining({ rows: 8, refused: 8, imported: 0, unsent: 0, requests: 14 }),
    ]);
  });

  it('keeps the claims of a bisection cut short by throttling for its retry, which submits what was left undecided', async () => {
    // Three writes per window: the refused request and the two below it; the fourth is throttled.
    const s = await scenarios.scenario({
      simulator: { refuseImportRowsWhere: (row) => row.serialNumber === 'ICT1', throttle: { writesPer20s: 3 } },
    });
    const serials = ['ICT1', 'ICT2', 'ICT3', 'ICT4'];
    for (const serial of serials) await s.given(serial, 'received');

    const result = await importChunk(s.deps, fromFile(...serials), s.correlationId, 0);

    // [1 2 3 4] refused, [1 2] refused, [1] refused alone; [2] throttled, so [3 4] is not sent.
    expect(s.graphCalls()).toEqual([`${IMPORT} 400`, `${IMPORT} 400`, `${IMPORT} 400`, `${IMPORT} 429`]);
    expect(await s.device('ICT1')).toMatchObject({ state: 'failed', reasons: ['autopilot-error'] });
    const left = await Promise.all(['ICT2', 'ICT3', 'ICT4'].map((serial) => s.device(serial)));
    expect(left.map((device) => device.state)).toEqual(['importing', 'importing', 'importing']);
    expect(result).toMatchObject({
      kind: 'retry',
      reason: 'throttled',
      at: s.at(20 * SECOND),
      payload: {
        ...fromFile('ICT2', 'ICT3', 'ICT4'),
        unsent: { ICT2: left[0]!.importId, ICT3: left[1]!.importId, ICT4: left[2]!.importId },
      },
    });
    expect(s.logEvents(EVENTS.importBisected)).toEqual([expect.objectContaining({ rows: 4, refused: 1, imported: 0, unsent: 3 })]);

    s.advance(20 * SECOND);
    s.resetGraphCalls();
    const retried = result.kind === 'retry' ? (result.payload as ImportChunkPayload) : fromFile(...serials);
    expect(await importChunk(s.deps, retried, s.correlationId, 0)).toEqual(DONE);
    // Throttled requests were never imported: sent again, with no listing, each under a claim
    // made afresh (so a redelivery of the retry finds it spent).
    expect(s.graphCalls()).toEqual([`${IMPORT} 200`]);
    const imported = await Promise.all(['ICT2', 'ICT3', 'ICT4'].map((serial) => s.device(serial)));
    imported.forEach((d, n) => expect(d.importId).not.toBe(left[n]!.importId));
    expect(recordsBySerial(s)).toEqual(Object.fromEntries(imported.map((d) => [d.serialNumber, [d.importId]])));
    expect((await s.device('ICT1')).state).toBe('failed');
  });

  it('turns throttling into a retry at Retry-After that carries its unsent claims, which the retry submits at once', async () => {
    const s = await scenarios.scenario({ simulator: { throttle: { writesPer20s: 0 } } });
    for (const serial of ['IC6A', 'IC6B']) await s.given(serial, 'received');
    const payload = fromFile('IC6A', 'IC6B');

    const result = await importChunk(s.deps, payload, s.correlationId, 0);

    // T0 starts one of Graph's 20-second windows: Retry-After is the whole window.
    expect(s.graphCalls()).toEqual([`${IMPORT} 429`]);
    const claimed = await Promise.all(['IC6A', 'IC6B'].map((serial) => s.device(serial)));
    expect(claimed.map((d) => d.state)).toEqual(['importing', 'importing']);
    expect(result).toEqual({
      kind: 'retry',
      reason: 'throttled',
      at: s.at(20 * SECOND),
      detail: 'importing devices: throttled (graph)',
      payload: { ...payload, unsent: { IC6A: claimed[0]!.importId, IC6B: claimed[1]!.importId } },
    });
    expect(await s.messages()).toEqual([scheduledTick('imports', s.at(1 * MINUTE))]);

    // The retry comes 20 s later: a 429 is Graph refusing the request, so the devices are sent
    // again without asking Autopilot first, under claims made afresh.
    s.sim.setThrottle({ writesPer20s: 100 });
    s.advance(20 * SECOND);
    s.resetGraphCalls();
    const retried = result.kind === 'retry' ? (result.payload as ImportChunkPayload) : payload;
    expect(await importChunk(s.deps, retried, s.correlationId, 1)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${IMPORT} 200`]);
    const resubmitted = await Promise.all(['IC6A', 'IC6B'].map((serial) => s.device(serial)));
    expect(resubmitted[0]!.importId).not.toBe(claimed[0]!.importId);
    expect(recordsBySerial(s)).toEqual({ IC6A: [resubmitted[0]!.importId], IC6B: [resubmitted[1]!.importId] });
    expect(resubmitted.map((d) => d.waitingSince)).toEqual([s.at(20 * SECOND).toISOString(), s.at(20 * SECOND).toISOString()]);

    // A redelivery of the same retry (its first delivery crashed after sending) sends nothing:
    // the claims it carries are spent, and the import poll has the devices.
    s.resetGraphCalls();
    expect(await importChunk(s.deps, retried, s.correlationId, 1)).toEqual(DONE);
    expect(s.graphCalls()).toEqual([]);
    expect(recordsBySerial(s)).toEqual({ IC6A: [resubmitted[0]!.importId], IC6B: [resubmitted[1]!.importId] });
  });

  it('does nothing for a chunk whose devices have all moved on', async () => {
    const s = await scenarios.scenario();
    await s.given('IC7A', 'registered', { autopilotId: 'ap-IC7A' });
    await s.given('IC7B', 'failed');

    expect(await importChunk(s.deps, fromFile('IC7A', 'IC7B', 'IC7-UNKNOWN'), s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([]);
    expect(await s.newEvents('IC7A')).toEqual([]);
    expect(await s.newEvents('IC7B')).toEqual([]);
    expect(await s.messages()).toEqual([]);
  });
});
