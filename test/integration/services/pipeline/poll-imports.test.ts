import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportedIdentity } from '../../../../shared/domain/autopilot.js';
import type { DeviceRecord } from '../../../../shared/domain/device.js';
import { reasonText } from '../../../../shared/domain/reason-codes.js';
import { EVENTS } from '../../../../shared/events.js';
import type { ImportChunkPayload, TickPayload } from '../../../../shared/messages/index.js';
import { importChunk } from '../../../../shared/services/pipeline/import-chunk.js';
import type { PipelineDeps } from '../../../../shared/services/pipeline/context.js';
import { pollAutopilot } from '../../../../shared/services/pipeline/poll-autopilot.js';
import { pollImports } from '../../../../shared/services/pipeline/poll-imports.js';
import { beginTickRun, keepTickRun, RUN_LEASE_MS } from '../../../../shared/services/pipeline/ticks.js';
import { DONE } from '../../../../shared/services/pipeline/work.js';
import { HOUR, MINUTE, scheduledTick, SECOND, startScenarioStack, type Scenario, type ScenarioStack } from '../../../support/scenario.js';

/**
 * pollImports, called directly: what one listing of the imported records does to the
 * devices waiting on their import, what it cleans up, and what it sends or schedules next.
 */

const LIST_IMPORTED = 'GET importedWindowsAutopilotDeviceIdentities';
const DELETE_IMPORTED = 'DELETE importedWindowsAutopilotDeviceIdentities/{id}';
const FIND_BY_SERIAL = 'GET windowsAutopilotDeviceIdentities';
const SYNC = 'POST windowsAutopilotSettings/sync';
const UPDATE_PROPERTIES = 'POST windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties';

let scenarios: ScenarioStack;

beforeAll(async () => {
  scenarios = await startScenarioStack();
});

afterAll(async () => {
  await scenarios?.stop();
});

/** The run of the import poll due now. */
const tickNow = (s: Scenario, idle = 0): TickPayload => ({ tick: 'imports', at: s.now().toISOString(), idle });

/** Autopilot has the devices' imports (their calls got through), as sent at the current time. */
async function submitted(s: Scenario, ...serials: string[]): Promise<void> {
  const devices = await Promise.all(serials.map((serial) => s.device(serial)));
  const result = await s.graph.importDevices(s.importInputs(...devices));
  expect(result.ok).toBe(true);
}

/** Autopilot has finished the devices' imports (an import takes 90 s): two minutes on, with the call log cleared. */
async function importsFinished(s: Scenario, ...serials: string[]): Promise<void> {
  await submitted(s, ...serials);
  s.advance(2 * MINUTE);
  s.resetGraphCalls();
}

function identityOf(s: Scenario, serialNumber: string) {
  const identity = s.sim.autopilotIdentities().find((i) => i.serialNumber === serialNumber);
  if (!identity) throw new Error(`Autopilot has no identity for ${serialNumber}`);
  return identity;
}

/** The imported record of the device's import, ended in Autopilot's error `code name`. */
function failedRecord(device: DeviceRecord, id: string, deviceErrorCode: number, deviceErrorName: string): ImportedIdentity {
  return {
    id,
    serialNumber: device.serialNumber,
    groupTag: 'MPS-STD',
    importId: device.importId!,
    productKey: '',
    assignedUserPrincipalName: '',
    state: { deviceImportStatus: 'error', deviceRegistrationId: '', deviceErrorCode, deviceErrorName },
  };
}

/**
 * The simulator never answers StorageError (its README: known simplifications), so the
 * listing the use case gets is the simulator's plus one such record.
 */
function listingAlsoShows(s: Scenario, record: ImportedIdentity): PipelineDeps {
  return {
    ...s.deps,
    graph: {
      ...s.graph,
      listImportedIdentities: async (options) => {
        const listed = await s.graph.listImportedIdentities(options);
        return listed.ok ? { ok: true, value: [...listed.value, record] } : listed;
      },
    },
  };
}

/**
 * The scenario's device store, telling `order` when the poll reads a waiting device and when it
 * saves one; `beforeRead` runs before the n-th device (from 1) is handed over.
 */
function recordingDevices(s: Scenario, order: string[], beforeRead?: (n: number) => Promise<void>): PipelineDeps['devices'] {
  const store = s.deps.devices;
  return {
    get: (serialNumber) => store.get(serialNumber),
    create: (record, event) => store.create(record, event),
    save: (next, current, event) => {
      order.push(`save ${next.serialNumber}`);
      return store.save(next, current, event);
    },
    announce: (into, devices) => store.announce!(into, devices),
    async *matching(clauses) {
      let n = 0;
      for await (const device of store.matching(clauses)) {
        await beforeRead?.(++n);
        order.push(`read ${device.value.serialNumber}`);
        yield device;
      }
    },
  };
}

describe('pollImports', () => {
  it('registers a device whose import completed: hash dropped, waiting for its profile, Autopilot synced, the Autopilot poll asked for', async () => {
    const s = await scenarios.scenario();
    await s.given('PI1A', 'importing');
    await importsFinished(s, 'PI1A');
    const [record] = s.importedRecords();

    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    const identity = identityOf(s, 'PI1A');
    expect(await s.device('PI1A')).toMatchObject({
      state: 'registered',
      autopilotId: identity.id,
      autopilotGroupTag: 'MPS-STD',
      importedIdentityId: record!.id,
      hardwareHash: undefined,
      waitingFor: 'profile-assignment',
      waitingSince: s.at(2 * MINUTE).toISOString(),
      deadlineAt: s.at(2 * MINUTE + 72 * HOUR).toISOString(),
      reasons: [],
    });
    expect(await s.newEvents('PI1A')).toEqual([
      { from: 'importing', to: 'registered', reason: 'import-complete', detail: { autopilotId: identity.id } },
    ]);
    // The finished record is deleted once its device has moved on; then the sync.
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`, `${DELETE_IMPORTED} 204`, `${SYNC} 204`]);
    expect(s.importedRecords()).toEqual([]);
    // Nothing waits on an import any more: no next import poll, the Autopilot poll a minute on.
    expect(await s.messages()).toEqual([scheduledTick('autopilot', s.at(3 * MINUTE))]);
  });

  it('registers an 806 after finding the existing identity by serial, keeping the tag Autopilot has', async () => {
    const s = await scenarios.scenario();
    // Registered in this tenant long ago, under another tag.
    const existing = s.sim.addAutopilotIdentity({ serialNumber: 'PI2A', groupTag: 'MPS-KIOSK' });
    await s.given('PI2A', 'importing');
    await importsFinished(s, 'PI2A');

    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(await s.device('PI2A')).toMatchObject({
      state: 'registered',
      autopilotId: existing.id,
      // What Autopilot has; the Autopilot poll reconciles it with the file's MPS-STD.
      autopilotGroupTag: 'MPS-KIOSK',
      groupTag: 'MPS-STD',
      reasons: ['already-registered'],
      waitingFor: 'profile-assignment',
    });
    expect(await s.newEvents('PI2A')).toEqual([
      {
        from: 'importing',
        to: 'registered',
        reason: 'already-registered',
        detail: { autopilotId: existing.id, code: '806 ZtdDeviceAlreadyAssigned' },
      },
    ]);
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`, `${FIND_BY_SERIAL} 200`, `${DELETE_IMPORTED} 204`, `${SYNC} 204`]);
    expect(decodeURIComponent(s.sim.requestLog()[1]!.url)).toContain("$filter=contains(serialNumber,'PI2A')");
  });

  it("keeps the tenant's tag for an 806 whose row had no tag: the record shows it and nothing clears it", async () => {
    const s = await scenarios.scenario();
    // Registered in this tenant under its [OrderID] tag; the file's row had no tag (fabrikam has no default).
    const existing = s.sim.addAutopilotIdentity({ serialNumber: 'PI9A', groupTag: 'MPS-KIOSK' });
    await s.given('PI9A', 'importing', { supplierId: 'fabrikam', groupTag: undefined });
    await importsFinished(s, 'PI9A');

    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(await s.device('PI9A')).toMatchObject({
      state: 'registered',
      autopilotId: existing.id,
      groupTag: 'MPS-KIOSK',
      autopilotGroupTag: 'MPS-KIOSK',
      reasons: ['already-registered'],
    });

    // The Autopilot poll that follows finds nothing to reconcile.
    s.advance(1 * MINUTE);
    expect(await pollAutopilot(s.deps, { tick: 'autopilot', at: s.now().toISOString(), idle: 0 }, s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls().filter((call) => call.startsWith(UPDATE_PROPERTIES))).toEqual([]);
    expect(identityOf(s, 'PI9A').groupTag).toBe('MPS-KIOSK');
    expect(await s.device('PI9A')).toMatchObject({ state: 'registered', groupTag: 'MPS-KIOSK', autopilotGroupTag: 'MPS-KIOSK' });
  });

  it('fails an 808 and an 802 with the reason the supplier can act on, and cleans up their records', async () => {
    const s = await scenarios.scenario();
    s.sim.addOtherTenantSerial('PI3A');
    await s.given('PI3A', 'importing');
    // Not a hardware-hash structure: Autopilot refuses it.
    await s.given('PI3B', 'importing', { hardwareHash: 'AAAA' });
    await importsFinished(s, 'PI3A', 'PI3B');
    const recordIds = Object.fromEntries(s.importedRecords().map((r) => [r.serialNumber, r.id]));

    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    const cases = [
      ['PI3A', 'owned-by-other-tenant', '808 ZtdDeviceAssignedToOtherTenant'],
      ['PI3B', 'autopilot-rejected-hash', '802 InvalidZtdHardwareHash'],
    ] as const;
    for (const [serial, reason, code] of cases) {
      expect(await s.device(serial)).toMatchObject({
        state: 'failed',
        reasons: [reason],
        note: `${reasonText(reason)} (Autopilot: ${code})`,
        importedIdentityId: recordIds[serial],
        waitingFor: undefined,
        deadlineAt: undefined,
      });
      expect(await s.newEvents(serial)).toEqual([{ from: 'importing', to: 'failed', reason, detail: { code } }]);
    }
    // No device registered: no sync, no Autopilot poll; nothing left to watch or clean.
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`, `${DELETE_IMPORTED} 204`, `${DELETE_IMPORTED} 204`]);
    expect(s.importedRecords()).toEqual([]);
    expect(await s.messages()).toEqual([]);
  });

  it('gives a device whose import hit StorageError a new import id and sends it back to be imported', async () => {
    const s = await scenarios.scenario();
    const device = await s.given('PI4A', 'importing');
    s.advance(2 * MINUTE);
    const failed = failedRecord(device.value, 'storage-error-record', 640, 'StorageError');
    const tick = tickNow(s);

    expect(await pollImports(listingAlsoShows(s, failed), tick, s.correlationId, 0)).toEqual(DONE);

    // Sent back under its claim, which the import step makes afresh before sending it.
    expect((await s.devices.get('PI4A'))?.etag).toBe(device.etag);
    expect(await s.newEvents('PI4A')).toEqual([]);
    expect(s.logEvents(EVENTS.importRetry)).toEqual([expect.objectContaining({ serial: 'PI4A', code: '640 StorageError' })]);
    expect(await s.messages()).toEqual([
      {
        queue: 'ztp-import',
        kind: 'import-chunk',
        messageId: `resubmit:${tick.at}:0`,
        payload: { source: { kind: 'resubmit', pollAt: tick.at }, serialNumbers: ['PI4A'], unsent: { PI4A: device.value.importId } },
      },
    ]);
    // The failed record is the one the device waited on when the run began: it stays for the
    // next run to clean up, and the poll submits nothing itself.
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`]);
  });

  it('waits for a record through the claim grace, then sends the claim back to be submitted again', async () => {
    const s = await scenarios.scenario();
    // Claimed at T0; its import call never reached Autopilot.
    const claimed = await s.given('PI5A', 'importing');
    s.advance(30 * SECOND);

    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect((await s.devices.get('PI5A'))?.etag).toBe(claimed.etag);
    // Nothing moved: the next look comes one import-poll interval (10 s) on, counted as idle.
    const next = scheduledTick('imports', s.at(40 * SECOND), { idle: 1 });
    expect(await s.messages()).toEqual([next]);

    // The grace: the 60 s a claim may be sent in, and two request timeouts for its call.
    expect(s.deps.claimGraceMs).toBe(120 * SECOND);
    s.advance(90 * SECOND); // 120 s after the claim: not yet past the grace
    expect(await pollImports(s.deps, next.payload as TickPayload, s.correlationId, 0)).toEqual(DONE);
    const waitedOn = scheduledTick('imports', s.at(140 * SECOND), { idle: 2 });
    expect(await s.messages()).toEqual([next, waitedOn]);

    s.advance(1 * SECOND); // 121 s after the claim
    s.resetGraphCalls();
    expect(await pollImports(s.deps, next.payload as TickPayload, s.correlationId, 0)).toEqual(DONE);

    // Sent back as claimed: the same import id, no transition; the import step sends it.
    expect((await s.devices.get('PI5A'))?.etag).toBe(claimed.etag);
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`]);
    // Sent now, named after the run; and no further import poll: the import step asks for one.
    const pollAt = s.at(40 * SECOND).toISOString();
    expect(await s.messages()).toEqual([
      {
        queue: 'ztp-import',
        kind: 'import-chunk',
        messageId: `resubmit:${pollAt}:0`,
        payload: { source: { kind: 'resubmit', pollAt }, serialNumbers: ['PI5A'], unsent: { PI5A: claimed.value.importId } },
      },
      next,
      waitedOn,
    ]);
  });

  it.each([
    ['after its resubmitted import', 'after'],
    ['between the resubmit and the import it asks for', 'before'],
  ] as const)(
    'registers once a device whose timed-out import Autopilot takes in only past the claim grace, %s: one identity, both records cleaned up',
    async (_, lateArrives) => {
      const s = await scenarios.scenario();
      // Claimed at T0; its import call timed out, and Autopilot holds nothing for it yet.
      const first = await s.given('PI5L', 'importing');
      s.advance(121 * SECOND);
      expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);
      const [resubmit] = await s.messages();
      expect(resubmit?.payload).toMatchObject({ unsent: { PI5L: first.value.importId } });

      // The first call, held up somewhere on its way, reaches Autopilot after all.
      const arriveLate = async () => expect((await s.graph.importDevices(s.importInputs(first.value))).ok).toBe(true);
      if (lateArrives === 'before') await arriveLate();
      expect(await importChunk(s.deps, resubmit!.payload as ImportChunkPayload, s.correlationId, 0)).toEqual(DONE);
      const second = await s.device('PI5L');
      expect(second.importId).not.toBe(first.value.importId);
      if (lateArrives === 'after') await arriveLate();
      expect(
        s
          .importedRecords()
          .map((r) => r.importId)
          .sort(),
      ).toEqual([first.value.importId, second.importId].sort());

      // Both imports finish: the later of the two finds the identity the earlier made (806).
      s.advance(2 * MINUTE);
      expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

      const identities = s.sim.autopilotIdentities().filter((i) => i.serialNumber === 'PI5L');
      expect(identities).toHaveLength(1);
      expect(await s.device('PI5L')).toMatchObject({ state: 'registered', autopilotId: identities[0]!.id });
      // A claim made afresh is no transition: registered is the one step in its history.
      expect((await s.newEvents('PI5L')).map((e) => e.to)).toEqual(['registered']);
      // Neither record is waited on any more: the run deletes both, and sends nothing back to be imported.
      expect(s.importedRecords()).toEqual([]);
      expect((await s.messages()).filter((m) => m.kind === 'import-chunk')).toEqual([resubmit]);
    },
  );

  it('stalls devices past the import deadline, and registers one whose import finishes late when a run looks again', async () => {
    // Imports that take ten hours: longer than the two-hour import deadline.
    const s = await scenarios.scenario({ simulator: { latencies: { importSeconds: 10 * 3600 } } });
    await s.given('PI6A', 'importing');
    await s.given('PI6B', 'importing'); // its call never arrived
    await submitted(s, 'PI6A');
    s.advance(121 * MINUTE);
    s.resetGraphCalls();

    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    for (const serial of ['PI6A', 'PI6B']) {
      expect(await s.device(serial)).toMatchObject({ state: 'stalled', waitingFor: 'import' });
      expect(await s.newEvents(serial)).toEqual([
        {
          from: 'importing',
          to: 'stalled',
          reason: 'deadline-passed',
          detail: { waitingFor: 'import', deadlineAt: s.at(120 * MINUTE).toISOString() },
        },
      ]);
    }
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`]);
    // The pending record is kept, for a late result and for a re-drive to find.
    expect(s.importedRecords().map((r) => r.serialNumber)).toEqual(['PI6A']);
    // Nothing is importing any more: this run schedules no successor, and nobody revives the
    // chain for stalled devices (a re-drive does, when it sends one back to its import).
    expect(await s.messages()).toEqual([]);

    // A run that another device's import asks for, once the import finished ten hours after it was sent.
    s.advance(8 * HOUR);
    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(await s.device('PI6A')).toMatchObject({ state: 'registered', autopilotId: identityOf(s, 'PI6A').id });
    expect((await s.newEvents('PI6A')).slice(1)).toEqual([
      { from: 'stalled', to: 'registered', reason: 'import-complete', detail: { autopilotId: identityOf(s, 'PI6A').id } },
    ]);
    // Already stalled, with nothing to find: it stays as it is, without another event.
    expect(await s.newEvents('PI6B')).toHaveLength(1);
    expect((await s.device('PI6B')).state).toBe('stalled');
    // The registered one asks for the Autopilot poll; PI6B, stalled, keeps no import poll going.
    const late = s.at(121 * MINUTE + 8 * HOUR);
    expect(await s.messages()).toEqual([scheduledTick('autopilot', new Date(late.getTime() + MINUTE))]);
  });

  it('stalls a claimed device after an outage longer than the import deadline, and keeps no import poll going for it', async () => {
    const s = await scenarios.scenario();
    // Claimed at T0; Graph fails every call from then on, its import call included.
    await s.given('PI9A', 'importing');
    s.sim.setFaults({ errorRate5xx: 1 });
    s.advance(MINUTE);
    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toMatchObject({ kind: 'retry', reason: 'transient' });

    // The outage outlasts the two-hour import deadline.
    s.advance(2 * HOUR);
    s.sim.setFaults({ errorRate5xx: 0 });
    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);
    expect(await s.device('PI9A')).toMatchObject({ state: 'stalled', waitingFor: 'import' });
    expect(await s.messages()).toEqual([]);

    // A later run (asked for by another device's import, or revived) lists once and ends the
    // chain: a stalled device waits for a re-drive, not for the poll.
    s.advance(10 * MINUTE);
    s.resetGraphCalls();
    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`]);
    expect(await s.messages()).toEqual([]);
  });

  it('keeps the record of an 806 whose identity is not found by the deadline: the stalled device can be re-driven from it', async () => {
    const s = await scenarios.scenario();
    const device = await s.given('PIAA', 'importing');
    s.advance(121 * MINUTE);
    const shown = failedRecord(device.value, 'record-806', 806, 'ZtdDeviceAlreadyAssigned');
    s.resetGraphCalls();

    expect(await pollImports(listingAlsoShows(s, shown), tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(await s.device('PIAA')).toMatchObject({ state: 'stalled', waitingFor: 'import', importId: device.value.importId });
    // Looked for, not found, stalled; the record is not deleted.
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`, `${FIND_BY_SERIAL} 200`]);
  });

  it("cleans up only this deployment's finished records, and none a waiting device still needs", async () => {
    const s = await scenarios.scenario();
    const hash = (await s.given('PI7A', 'importing')).value.hardwareHash!;
    // Finished records of another tool in the tenant, and of an earlier import of ours.
    await s.graph.importDevices([
      { serialNumber: 'PI7X', hardwareIdentifier: hash, importId: 'othertool-1' },
      { serialNumber: 'PI7Y', hardwareIdentifier: hash, importId: 'ztp-earlier-PI7Y' },
    ]);
    s.advance(2 * MINUTE);
    // PI7A's import is sent now, so it is still pending when the poll runs.
    await submitted(s, 'PI7A');
    s.resetGraphCalls();

    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`, `${DELETE_IMPORTED} 204`]);
    expect(
      s
        .importedRecords()
        .map((r) => r.importId)
        .sort(),
    ).toEqual(['othertool-1', 'ztp-claim-PI7A']);
    expect((await s.device('PI7A')).state).toBe('importing');
    // A record was deleted, so the run counts as progress: the next look one interval on, not idle.
    expect(await s.messages()).toEqual([scheduledTick('imports', s.at(2 * MINUTE + 10 * SECOND))]);
  });

  it('deletes finished records a group at a time, and carries what Graph throttled to the next run', async () => {
    // Ten writes per window: the import below is in an earlier window, so ten deletes get through.
    const s = await scenarios.scenario({ simulator: { throttle: { writesPer20s: 10 } } });
    const hash = (await s.given('PI9A', 'registered')).value.hardwareHash ?? 'aGFzaA==';
    await s.graph.importDevices(
      Array.from({ length: 25 }, (_, i) => ({ serialNumber: `PI9R${i}`, hardwareIdentifier: hash, importId: `ztp-earlier-${i}` })),
    );
    s.advance(2 * MINUTE);
    s.resetGraphCalls();
    let inFlight = 0;
    let mostInFlight = 0;
    const deps: PipelineDeps = {
      ...s.deps,
      graph: {
        ...s.graph,
        deleteImportedIdentity: async (id, options) => {
          mostInFlight = Math.max(mostInFlight, ++inFlight);
          try {
            return await s.graph.deleteImportedIdentity(id, options);
          } finally {
            inFlight--;
          }
        },
      },
    };

    expect(await pollImports(deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    // One group of 16 went out together (the budget is asked once for all of them); 6 of it
    // were throttled, so the second group was not sent.
    expect(mostInFlight).toBe(16);
    const calls = s.graphCalls();
    expect(calls.filter((c) => c === `${DELETE_IMPORTED} 204`)).toHaveLength(10);
    expect(calls.filter((c) => c === `${DELETE_IMPORTED} 429`)).toHaveLength(6);
    const left = s
      .importedRecords()
      .map((r) => r.id)
      .sort();
    expect(left).toHaveLength(15);
    const [next] = await s.messages();
    expect(next?.payload).toMatchObject({ tick: 'imports' });
    expect([...((next?.payload as TickPayload).cleanup ?? [])].sort()).toEqual(left);
    // Not before Graph's Retry-After: the rest of the 20 s window.
    expect(next?.scheduledFor).toBe(s.at(2 * MINUTE + 20 * SECOND).toISOString());
  });

  it('works a page of waiting devices at a time: the first page moves on before the next is read', async () => {
    const s = await scenarios.scenario();
    const serials = ['PIPA1', 'PIPA2', 'PIPA3', 'PIPA4', 'PIPA5'];
    for (const serial of serials) await s.given(serial, 'importing');
    await importsFinished(s, ...serials);
    const order: string[] = [];

    const deps = { ...s.deps, pollPageSize: 2, devices: recordingDevices(s, order) };
    expect(await pollImports(deps, tickNow(s), s.correlationId, 0)).toEqual(DONE);

    for (const serial of serials) expect((await s.device(serial)).state).toBe('registered');
    const read = serials.map((serial) => order.indexOf(`read ${serial}`));
    const saved = serials.map((serial) => order.indexOf(`save ${serial}`));
    // Each page's devices are saved before the next page's first device is read.
    expect(Math.max(saved[0]!, saved[1]!)).toBeLessThan(Math.min(read[2]!, read[3]!));
    expect(Math.max(saved[2]!, saved[3]!)).toBeLessThan(read[4]!);
    expect(s.logEvents(EVENTS.importPoll)).toEqual([expect.objectContaining({ watched: 5, progressed: 5, pages: 3 })]);
  });

  it('stops at the next page when another run has taken its lock over: no clean-up, no sync, no successor', async () => {
    const s = await scenarios.scenario();
    const serials = ['PIPB1', 'PIPB2', 'PIPB3', 'PIPB4', 'PIPB5'];
    for (const serial of serials) await s.given(serial, 'importing');
    await importsFinished(s, ...serials);
    const tick = tickNow(s);
    const begun = await beginTickRun(s.deps.ticks, tick, 'slow');
    if (begun.kind !== 'run') throw new Error(`expected a run, got ${begun.kind}`);
    let lost = 0;
    const held = keepTickRun(s.deps.ticks, 'imports', begun.owner, begun.written, () => lost++, 3_600_000);
    // While the second page is read, this run has gone without renewing past its lease and
    // another run has taken the lock (as when the instance was starved of CPU).
    const takenOver = async (n: number): Promise<void> => {
      if (n !== 3) return;
      s.advance(RUN_LEASE_MS + SECOND);
      const lock = await s.deps.ticks.leases.getLock('imports');
      await s.deps.ticks.leases.setLock(
        'imports',
        { owner: 'imports:later/other', until: s.at(HOUR).toISOString(), rerun: false },
        lock.etag,
      );
    };
    const order: string[] = [];
    const records = s.importedRecords().length;
    try {
      const deps = { ...s.deps, pollPageSize: 2, devices: recordingDevices(s, order, takenOver) };
      expect(await pollImports(deps, tick, s.correlationId, 0, held)).toEqual(DONE);
    } finally {
      await held.stop();
    }

    expect(lost).toBe(1);
    expect((await s.device('PIPB1')).state).toBe('registered');
    expect((await s.device('PIPB2')).state).toBe('registered');
    // The run holding the lock now moves these on from its own listing.
    for (const serial of ['PIPB3', 'PIPB4', 'PIPB5']) expect((await s.device(serial)).state).toBe('importing');
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 200`]);
    expect(s.importedRecords()).toHaveLength(records);
    expect(await s.messages()).toEqual([]);
    expect(s.logEvents(EVENTS.importPoll)).toEqual([expect.objectContaining({ progressed: 2, pages: 1, lockLost: true })]);
  });

  it('turns a throttled listing into a retry at Retry-After, touching no device', async () => {
    const s = await scenarios.scenario({ simulator: { throttle: { requestsPer20s: 0 } } });
    const device = await s.given('PI8A', 'importing');
    s.advance(2 * MINUTE);

    expect(await pollImports(s.deps, tickNow(s), s.correlationId, 0)).toEqual({
      kind: 'retry',
      reason: 'throttled',
      at: s.at(2 * MINUTE + 20 * SECOND),
      detail: 'listing imported identities: throttled (graph)',
    });
    expect(s.graphCalls()).toEqual([`${LIST_IMPORTED} 429`]);
    expect((await s.devices.get('PI8A'))?.etag).toBe(device.etag);
    expect(await s.messages()).toEqual([]);
  });
});
