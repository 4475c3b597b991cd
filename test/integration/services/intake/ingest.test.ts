import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random, sampleDevice } from '../../../../local/sample-data.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../../../shared/domain/blob-layout.js';
import { makeTestHardwareHash } from '../../../../local/graph-simulator/index.js';
import { ingestHashFile } from '../../../../shared/services/intake/index.js';
import { recordRows } from '../../../../shared/services/intake/record-rows.js';
import { reasonText } from '../../../../shared/domain/reason-codes.js';
import { EVENTS } from '../../../../shared/events.js';
import type { RetagPayload } from '../../../../shared/messages/index.js';
import { retag } from '../../../../shared/services/pipeline/retag.js';
import { batchSummary, type BatchSummary } from '../../../../shared/services/status.js';
import { transition, type DeviceRecord } from '../../../../shared/domain/device.js';
import type { DeviceState } from '../../../../shared/domain/lifecycle.js';
import type { ReprovisionRequest } from '../../../../shared/domain/reprovision-request.js';
import { HOUR, MINUTE, startScenarioStack, type Scenario, type ScenarioStack } from '../../../support/scenario.js';

/**
 * ingestHashFile, called directly on a file uploaded to Azurite: what each row does to a
 * new or known device, what is queued for import or re-tag, and what the supplier is told.
 */

const HEADER = 'Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User';
const random = new Random(2025);
/** A valid hardware hash per serial, made once, so a file's rows and the devices given agree. */
const hashes = new Map<string, string>();
const hashOf = (serialNumber: string): string => {
  let hash = hashes.get(serialNumber);
  if (!hash) hashes.set(serialNumber, (hash = sampleDevice(random, { serialNumber }).hardwareHash));
  return hash;
};

let scenarios: ScenarioStack;

beforeAll(async () => {
  scenarios = await startScenarioStack();
});

afterAll(async () => {
  await scenarios?.stop();
});

/** A service-desk request as the webhook records it on a device, asked for now. */
function deskRequest(
  s: Scenario,
  fields: Pick<ReprovisionRequest, 'requestId' | 'action' | 'ticket' | 'fromState' | 'stage'>,
): ReprovisionRequest {
  return { ...fields, requestedBy: 'desk', requestedAt: s.now().toISOString() };
}

type Row = readonly [serial: string, hash: string, groupTag?: string, assignedUser?: string];

/**
 * Uploads a file of `rows` for a supplier (contoso unless named) through the blob store, as a
 * supplier's drop would land; returns its blob name.
 */
async function upload(s: Scenario, name: string, rows: readonly Row[], supplier = 'contoso'): Promise<string> {
  const lines = [HEADER, ...rows.map(([serial, hash, tag, user]) => `${serial},,${hash},${tag ?? ''},${user ?? ''}`)];
  const blobName = `${supplier}/${s.correlationId}-${name}.csv`;
  await s.intakeDeps.blobs.writeText(INTAKE_CONTAINER, blobName, `${lines.join('\r\n')}\r\n`, 'text/csv');
  return blobName;
}

/** The report's rows without the header: line, serial, outcome and reason code (the text is for people). */
async function reportRows(s: Scenario, reportBlob: string): Promise<string[][]> {
  const text = await s.intakeDeps.blobs.readText(RESULTS_CONTAINER, reportBlob);
  if (text === undefined) throw new Error(`no report ${reportBlob}`);
  return text
    .replace(/^\uFEFF/, '')
    .trim()
    .split('\r\n')
    .slice(1)
    .map((line) => [...line.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1]!.replace(/""/g, '"')).slice(0, 4));
}

/** The file's summary as `GET /api/batches/{batchId}` gives it. */
async function summaryOf(s: Scenario, batchId: string): Promise<BatchSummary> {
  const summary = await batchSummary({ batches: s.batches, batchIndex: s.batchIndex }, batchId);
  if (!summary) throw new Error(`no batch ${batchId}`);
  return summary;
}

/** Moves a recorded device on through `steps`, as the pipeline would have. */
async function moveThrough(s: Scenario, serial: string, steps: readonly [DeviceState, Partial<DeviceRecord>][]): Promise<void> {
  let current = (await s.devices.get(serial))!;
  for (const [to, changes] of steps) {
    const next = transition(current.value, { to, reason: 'import-submitted', correlationId: 'pipeline', now: s.now(), changes });
    current = await s.devices.save(next.record, current, next.event);
  }
}

describe('ingestHashFile', () => {
  it('records a new device and queues it, and records rejected rows with their reasons', async () => {
    const s = await scenarios.scenario();
    const blobName = await upload(s, 'new', [
      ['IN1A', hashOf('IN1A'), 'MPS-KIOSK'],
      ['IN1B', 'bm90IGEgaGFzaA==', 'MPS-STD'], // base64, but not a hardware hash
      ['IN1C', hashOf('IN1C'), 'OTHER-TAG'], // not a tag contoso may use
      ['', hashOf('IN1X'), 'MPS-STD'],
      ['IN1A', hashOf('IN1A'), 'MPS-STD'], // the same serial again
      ['IN1D', hashOf('IN1D')], // no tag: the supplier's default
    ]);

    const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

    expect(result).toMatchObject({
      status: 'complete',
      counts: { rows: 6, accepted: 2, rejected: 4, unchanged: 0, updated: 0, queued: 2, chunks: 1 },
      reportBlob: `${blobName}.result.csv`,
    });
    const batchId = result.batchId!;
    expect(await s.device('IN1A')).toMatchObject({
      state: 'received',
      generation: 1,
      supplierId: 'contoso',
      batchId,
      line: 2,
      groupTag: 'MPS-KIOSK',
      hardwareHash: hashOf('IN1A'),
    });
    expect(await s.device('IN1D')).toMatchObject({ state: 'received', groupTag: 'MPS-STD', line: 7 });
    for (const serial of ['IN1A', 'IN1D']) {
      expect(await s.newEvents(serial)).toEqual([{ from: undefined, to: 'received', reason: 'accepted-from-file' }]);
    }
    for (const [serial, reason] of [
      ['IN1B', 'invalid-hash'],
      ['IN1C', 'group-tag-not-allowed'],
    ] as const) {
      expect(await s.device(serial)).toMatchObject({ state: 'rejected', reasons: [reason], batchId });
      expect(await s.newEvents(serial)).toEqual([
        { from: undefined, to: 'rejected', reason: 'rejected-from-file', detail: { reasons: [reason] } },
      ]);
    }
    expect(await reportRows(s, result.reportBlob)).toEqual([
      ['2', 'IN1A', 'accepted', ''],
      ['3', 'IN1B', 'rejected', 'invalid-hash'],
      ['4', 'IN1C', 'rejected', 'group-tag-not-allowed'],
      ['5', '', 'rejected', 'missing-serial'],
      ['6', 'IN1A', 'rejected', 'duplicate-in-file'],
      ['7', 'IN1D', 'accepted', ''],
    ]);
    expect(await s.messages()).toEqual([
      {
        queue: 'ztp-import',
        kind: 'import-chunk',
        messageId: `import:${batchId}:0`,
        payload: { source: { kind: 'file', batchId, chunk: 0 }, serialNumbers: ['IN1A', 'IN1D'] },
      },
    ]);
    expect((await s.batches.get(batchId))?.value).toMatchObject({
      status: 'complete',
      supplierId: 'contoso',
      receivedAt: s.now().toISOString(),
      completedAt: s.now().toISOString(),
    });
  });

  it('decides for each known device by its state and tag: unchanged, re-tagged, or imported again', async () => {
    const s = await scenarios.scenario();
    // From an earlier file: one registered and one enrolled under MPS-STD, one that failed
    // (owned by another tenant), one still importing and one not yet submitted.
    await s.given('IN2A', 'registered', { autopilotId: 'ap-IN2A' });
    await s.given('IN2B', 'enrolled', { autopilotId: 'ap-IN2B' });
    await s.given('IN2C', 'failed');
    await s.given('IN2D', 'importing');
    await s.given('IN2E', 'received');
    s.advance(1 * MINUTE);
    const blobName = await upload(s, 'known', [
      ['IN2A', hashOf('IN2A'), 'MPS-STD'],
      ['IN2B', hashOf('IN2B'), 'MPS-KIOSK'],
      ['IN2C', hashOf('IN2C'), 'MPS-STD'],
      ['IN2D', hashOf('IN2D'), 'MPS-KIOSK'],
      ['IN2E', hashOf('IN2E'), 'MPS-KIOSK'],
    ]);

    const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

    const batchId = result.batchId!;
    expect(result.counts).toMatchObject({ rows: 5, accepted: 2, unchanged: 1, updated: 2, rejected: 0, queued: 2 });
    // Same tag: nothing to change.
    expect(await s.newEvents('IN2A')).toEqual([]);
    // A new tag for an enrolled device: it keeps its state and its file, and is watched
    // until Autopilot has the tag.
    expect(await s.device('IN2B')).toMatchObject({
      state: 'enrolled',
      generation: 2,
      batchId: 'batch-given',
      groupTag: 'MPS-KIOSK',
      autopilotGroupTag: 'MPS-STD',
      waitingFor: 'group-tag',
      waitingSince: s.now().toISOString(),
    });
    expect(await s.newEvents('IN2B')).toEqual([
      {
        from: 'enrolled',
        to: 'enrolled',
        reason: 'group-tag-changed',
        detail: { previousGroupTag: 'MPS-STD', groupTag: 'MPS-KIOSK', retagBatchId: batchId, line: 3 },
      },
    ]);
    // Failed before: imported again from this file, as a new generation.
    expect(await s.device('IN2C')).toMatchObject({ state: 'received', generation: 2, batchId, reasons: [], line: 4 });
    expect(await s.newEvents('IN2C')).toEqual([
      {
        from: 'failed',
        to: 'received',
        reason: 'resubmitted-from-file',
        detail: { previousBatchId: 'batch-given', previousState: 'failed' },
      },
    ]);
    // Importing: the new tag is recorded; Autopilot gets it once the device is registered.
    expect(await s.device('IN2D')).toMatchObject({ state: 'importing', generation: 2, groupTag: 'MPS-KIOSK' });
    // Not yet submitted: starts over with this file's data.
    expect(await s.device('IN2E')).toMatchObject({ state: 'received', generation: 2, batchId, groupTag: 'MPS-KIOSK' });
    expect((await s.newEvents('IN2E')).map((e) => [e.from, e.to, e.reason])).toEqual([['received', 'received', 'group-tag-changed']]);

    expect((await reportRows(s, result.reportBlob)).map((row) => row[2])).toEqual([
      'unchanged',
      'updated',
      'accepted',
      'updated',
      'accepted',
    ]);
    expect(await s.messages()).toEqual([
      {
        queue: 'ztp-import',
        kind: 'import-chunk',
        messageId: `import:${batchId}:0`,
        payload: { source: { kind: 'file', batchId, chunk: 0 }, serialNumbers: ['IN2C', 'IN2E'] },
      },
      { queue: 'ztp-followup', kind: 'retag', messageId: 'retag:IN2B:2', payload: { serialNumber: 'IN2B', generation: 2 } },
      { queue: 'ztp-followup', kind: 'retag', messageId: 'retag:IN2D:2', payload: { serialNumber: 'IN2D', generation: 2 } },
    ]);
  });

  it('never lets a bad row touch a device further along, but records a newer rejection and a fixed row', async () => {
    const s = await scenarios.scenario();
    const registered = await s.given('IN3A', 'registered', { autopilotId: 'ap-IN3A' });
    await s.given('IN3B', 'rejected', { reasons: ['invalid-hash'] });
    await s.given('IN3C', 'rejected', { reasons: ['invalid-hash'] });
    const blobName = await upload(s, 'bad-rows', [
      ['IN3A', 'bm90IGEgaGFzaA==', 'MPS-STD'],
      ['IN3B', hashOf('IN3B'), 'OTHER-TAG'],
      ['IN3C', hashOf('IN3C'), 'MPS-STD'],
    ]);

    const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

    const batchId = result.batchId!;
    expect((await s.devices.get('IN3A'))?.etag).toBe(registered.etag);
    expect(await s.device('IN3B')).toMatchObject({ state: 'rejected', reasons: ['group-tag-not-allowed'], batchId, line: 3 });
    expect(await s.newEvents('IN3B')).toEqual([
      { from: 'rejected', to: 'rejected', reason: 'rejected-from-file', detail: { reasons: ['group-tag-not-allowed'] } },
    ]);
    expect(await s.device('IN3C')).toMatchObject({ state: 'received', generation: 2, batchId, reasons: [] });
    expect(await reportRows(s, result.reportBlob)).toEqual([
      ['2', 'IN3A', 'rejected', 'invalid-hash'],
      ['3', 'IN3B', 'rejected', 'group-tag-not-allowed'],
      ['4', 'IN3C', 'accepted', ''],
    ]);
    expect((await s.messages()).map((m) => m.payload)).toEqual([{ source: { kind: 'file', batchId, chunk: 0 }, serialNumbers: ['IN3C'] }]);
  });

  it('recognises the same content under another name: nothing imported again, the report copied', async () => {
    const s = await scenarios.scenario();
    const rows: Row[] = [['IN4A', hashOf('IN4A'), 'MPS-STD']];
    const first = await ingestHashFile(s.intakeDeps, await upload(s, 'first', rows), s.correlationId);
    const recorded = await s.devices.get('IN4A');
    s.advance(10 * MINUTE);

    const again = await ingestHashFile(s.intakeDeps, await upload(s, 'again', rows), s.correlationId);

    expect(again).toMatchObject({ status: 'duplicate', batchId: first.batchId, counts: first.counts });
    expect((await s.devices.get('IN4A'))?.etag).toBe(recorded?.etag);
    expect(await reportRows(s, again.reportBlob)).toEqual(await reportRows(s, first.reportBlob));
    expect((await s.messages()).map((m) => m.messageId)).toEqual([`import:${first.batchId}:0`]);
  });

  it("makes the same content from another supplier a file of its own: its own batch and report, the first supplier's untouched", async () => {
    const s = await scenarios.scenario();
    const rows: Row[] = [
      ['IN9A', hashOf('IN9A'), 'MPS-STD'],
      ['IN9B', 'bm90IGEgaGFzaA==', 'MPS-STD'],
    ];
    const first = await ingestHashFile(s.intakeDeps, await upload(s, 'same-bytes', rows), s.correlationId);
    const firstBatch = (await s.batches.get(first.batchId!))!.value;
    const firstReport = await s.intakeDeps.blobs.readText(RESULTS_CONTAINER, first.reportBlob);
    const recorded = await s.devices.get('IN9A');
    s.advance(10 * MINUTE);

    const other = await ingestHashFile(s.intakeDeps, await upload(s, 'same-bytes', rows, 'fabrikam'), s.correlationId);

    expect(other).toMatchObject({ status: 'complete', counts: { rows: 2, accepted: 0, rejected: 2, queued: 0 } });
    expect(other.batchId).not.toBe(first.batchId);
    expect((await s.batches.get(other.batchId!))?.value).toMatchObject({
      supplierId: 'fabrikam',
      contentSha256: firstBatch.contentSha256,
      reportBlob: other.reportBlob,
    });
    expect(await reportRows(s, other.reportBlob)).toEqual([
      ['2', 'IN9A', 'rejected', 'owned-by-other-supplier'],
      ['3', 'IN9B', 'rejected', 'invalid-hash'],
    ]);
    expect(await s.intakeDeps.blobs.readText(RESULTS_CONTAINER, first.reportBlob)).toBe(firstReport);
    expect((await s.batches.get(first.batchId!))?.value).toEqual(firstBatch);
    expect((await s.devices.get('IN9A'))?.etag).toBe(recorded?.etag);
    expect((await s.messages()).map((m) => m.messageId)).toEqual([`import:${first.batchId}:0`]);
  });

  it('re-drives the stalled devices of a file uploaded again, and copies its report', async () => {
    const s = await scenarios.scenario();
    const rows: Row[] = [
      ['IN7A', hashOf('IN7A'), 'MPS-STD'],
      ['IN7B', hashOf('IN7B'), 'MPS-STD'],
    ];
    const first = await ingestHashFile(s.intakeDeps, await upload(s, 'first', rows), s.correlationId);
    const batchId = first.batchId!;
    // An outage outlasted IN7A's import deadline; IN7B got through.
    await moveThrough(s, 'IN7A', [
      ['importing', { importId: 'ztp-claim-IN7A', waitingFor: 'import' }],
      ['stalled', {}],
    ]);
    await moveThrough(s, 'IN7B', [['importing', { importId: 'ztp-claim-IN7B', waitingFor: 'import' }]]);
    s.advance(3 * HOUR);

    const again = await ingestHashFile(s.intakeDeps, await upload(s, 'again', rows), s.correlationId);

    expect(again).toMatchObject({ status: 'duplicate', batchId, counts: first.counts });
    expect(await reportRows(s, again.reportBlob)).toEqual(await reportRows(s, first.reportBlob));
    // The re-drive itself needs Autopilot (was the device seen after all?): it is queued, and
    // carried out by the follow-up handler like any Graph work.
    const messages = await s.messages();
    expect(messages.map((m) => m.messageId)).toEqual([`import:${batchId}:0`, expect.stringMatching(new RegExp(`^redrive:${batchId}:`))]);
    expect(messages[1]).toMatchObject({ queue: 'ztp-followup', kind: 'redrive', payload: { batchId } });
    expect(s.logEvents(EVENTS.batchDuplicate)).toEqual([expect.objectContaining({ batchId, stalled: 1 })]);
  });

  it('never interrupts the service desk: a row for a device being re-provisioned changes nothing (device-busy)', async () => {
    const s = await scenarios.scenario();
    const request = deskRequest(s, {
      requestId: '3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5f6',
      action: 'autopilot-reset',
      ticket: 'INC42',
      fromState: 'enrolled',
      stage: 'sent',
    });
    const busy = await s.given('IN5A', 'reprovisioning', { autopilotId: 'ap-IN5A', reprovision: request, waitingFor: 'reprovision' });
    const blobName = await upload(s, 'mid-reset', [['IN5A', hashOf('IN5A'), 'MPS-KIOSK']]);

    const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

    expect((await s.devices.get('IN5A'))?.etag).toBe(busy.etag);
    expect(await reportRows(s, result.reportBlob)).toEqual([['2', 'IN5A', 'accepted', 'device-busy']]);
    expect(await s.messages()).toEqual([]);
  });

  it('rejects a row for a deregistered device unless the deregistration allowed re-import', async () => {
    const s = await scenarios.scenario();
    const request = deskRequest(s, {
      requestId: '3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5f7',
      action: 'deregister',
      ticket: 'INC43',
      fromState: 'enrolled',
      stage: 'done',
    });
    const closed = await s.given('IN6A', 'deregistered', { reprovision: { ...request, allowReimport: false } });
    await s.given('IN6B', 'deregistered', { reprovision: { ...request, allowReimport: true } });
    const blobName = await upload(s, 'deregistered', [
      ['IN6A', hashOf('IN6A'), 'MPS-STD'],
      ['IN6B', hashOf('IN6B'), 'MPS-STD'],
    ]);

    const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

    const batchId = result.batchId!;
    expect((await s.devices.get('IN6A'))?.etag).toBe(closed.etag);
    expect(await s.device('IN6B')).toMatchObject({ state: 'received', generation: 2, batchId });
    expect(await reportRows(s, result.reportBlob)).toEqual([
      ['2', 'IN6A', 'rejected', 'deregistered-device'],
      ['3', 'IN6B', 'accepted', ''],
    ]);
    expect((await s.messages()).map((m) => m.payload)).toEqual([{ source: { kind: 'file', batchId, chunk: 0 }, serialNumbers: ['IN6B'] }]);
  });
  it('never lets one oversized value take its file down: every row recorded, the report written', async () => {
    const s = await scenarios.scenario();
    // A well-formed hash of ~40,000 characters: more than one Table Storage property holds.
    const huge = makeTestHardwareHash({ serialNumber: 'IN7B', approximateBytes: 30_000 });
    expect(huge.length).toBeGreaterThan(32 * 1024);
    const lines = [
      'Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model',
      `IN7A,,${hashOf('IN7A')},,`,
      `IN7B,,${huge},,`,
      `IN7C,,${makeTestHardwareHash({ serialNumber: 'IN7C', manufacturer: 'M'.repeat(1000), model: 'Laptop' })},,`,
      `IN7D,,${hashOf('IN7D')},,`,
    ];
    const blobName = `contoso/${s.correlationId}-oversized.csv`;
    await s.intakeDeps.blobs.writeText(INTAKE_CONTAINER, blobName, `${lines.join('\r\n')}\r\n`, 'text/csv');

    const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

    expect(result).toMatchObject({ status: 'complete', counts: { rows: 4, accepted: 3, rejected: 1 } });
    expect(await reportRows(s, result.reportBlob)).toEqual([
      ['2', 'IN7A', 'accepted', ''],
      ['3', 'IN7B', 'rejected', 'invalid-hash'],
      ['4', 'IN7C', 'accepted', 'value-dropped'],
      ['5', 'IN7D', 'accepted', ''],
    ]);
    expect(await s.device('IN7C')).toMatchObject({ state: 'received', manufacturer: undefined, model: 'Laptop' });
    expect((await s.device('IN7D')).state).toBe('received');
  });

  it('rejects on its own a row the storage still refuses, and records the others', async () => {
    const s = await scenarios.scenario();
    const batch = { batchId: 'b-refused', supplierId: 'contoso' } as Parameters<typeof recordRows>[0]['batch'];
    const row = (line: number, serialNumber: string, hardwareHash: string) => ({
      line,
      serialNumber,
      status: 'accepted' as const,
      errors: [],
      warnings: [],
      device: { serialNumber, hardwareHash },
    });
    // Past validation (which bounds it) a value Table Storage refuses: the row alone is rejected.
    const rows = [row(2, 'IN8A', hashOf('IN8A')), row(3, 'IN8B', 'A'.repeat(40_000)), row(4, 'IN8C', hashOf('IN8C'))];
    async function* stream() {
      yield* rows;
    }
    const recorded = await recordRows(
      { deps: s.intakeDeps, batch, correlationId: s.correlationId, log: s.deps.log.child({ correlationId: s.correlationId }) },
      { rows: stream(), outcome: Promise.resolve({ counts: { total: 3, accepted: 3, rejected: 0 }, bytesRead: 1 }) },
      8,
    );
    expect(recorded.counts).toMatchObject({ rows: 3, accepted: 2, rejected: 1, queued: 2 });
    expect((await s.device('IN8A')).state).toBe('received');
    expect(await s.devices.get('IN8B')).toBeUndefined();
    expect((await s.device('IN8C')).state).toBe('received');
    expect(s.logEvents('intake.row-refused')).toEqual([
      expect.objectContaining({ serial: 'IN8B', line: 3, code: 'PropertyValueTooLarge' }),
    ]);
  });

  describe("the file's summary lists every rejected row, whether or not it recorded a device", () => {
    it('lists rows without a serial, repeated rows and rows refused for the device they name, once however often the file is read', async () => {
      const s = await scenarios.scenario();
      const request = deskRequest(s, {
        requestId: '3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5fa',
        action: 'deregister',
        ticket: 'INC46',
        fromState: 'enrolled',
        stage: 'done',
      });
      // Contoso's devices: another supplier's rows for them change nothing.
      await s.given('RS1B', 'registered', { autopilotId: 'ap-RS1B' });
      await s.given('RS1C', 'deregistered', { reprovision: { ...request, allowReimport: false } });
      await s.given('RS1D', 'received');
      s.advance(1 * MINUTE);
      const blobName = await upload(
        s,
        'bad-rows',
        [
          ['RS1A', hashOf('RS1A'), 'FAB-1'],
          ['', hashOf('RS1X'), 'FAB-1'],
          ['RS1A', hashOf('RS1A'), 'FAB-1'],
          ['RS1B', hashOf('RS1B'), 'FAB-1'],
          ['RS1C', hashOf('RS1C'), 'FAB-1'],
          ['RS1D', 'bm90IGEgaGFzaA==', 'FAB-1'],
          ['RS1E', 'bm90IGEgaGFzaA==', 'FAB-1'],
        ],
        'fabrikam',
      );

      const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

      const batchId = result.batchId!;
      expect(result.counts).toMatchObject({ rows: 7, accepted: 1, rejected: 6 });
      const expectedRejects = [
        { line: 3, serialNumber: '', state: 'rejected', reasons: ['missing-serial'], note: undefined },
        { line: 4, serialNumber: 'RS1A', state: 'rejected', reasons: ['duplicate-in-file'], note: undefined },
        { line: 5, serialNumber: 'RS1B', state: 'rejected', reasons: ['owned-by-other-supplier'], note: undefined },
        { line: 6, serialNumber: 'RS1C', state: 'rejected', reasons: ['deregistered-device'], note: undefined },
        { line: 7, serialNumber: 'RS1D', state: 'rejected', reasons: ['invalid-hash'], note: undefined },
        { line: 8, serialNumber: 'RS1E', state: 'rejected', reasons: ['invalid-hash'], note: undefined },
      ];
      const summary = await summaryOf(s, batchId);
      expect(summary.rejects).toEqual(expectedRejects);
      expect(summary.devices).toEqual({ total: 7, byState: { received: 1, rejected: 6 } });
      expect(summary.devices.byState.rejected).toBe(result.counts.rejected);
      // The rows' report says the same.
      expect((await reportRows(s, result.reportBlob)).filter((row) => row[2] === 'rejected')).toEqual(
        expectedRejects.map((reject) => [String(reject.line), reject.serialNumber, 'rejected', reject.reasons[0]]),
      );

      // A run that stopped before the file was complete is run again: the same rows, the same entries.
      const batch = (await s.batches.get(batchId))!;
      await s.batches.save({ ...batch.value, status: 'processing' }, batch.etag);
      s.advance(1 * MINUTE);
      expect((await ingestHashFile(s.intakeDeps, blobName, s.correlationId)).status).toBe('complete');

      const again = await summaryOf(s, batchId);
      expect(again.rejects).toEqual(expectedRejects);
      expect(again.devices).toEqual(summary.devices);
    });

    it('keeps listing a rejected row after a later file brought its device', async () => {
      const s = await scenarios.scenario();
      const first = await ingestHashFile(
        s.intakeDeps,
        await upload(s, 'bad', [
          ['RS3A', 'bm90IGEgaGFzaA==', 'MPS-STD'],
          ['RS3B', hashOf('RS3B'), 'MPS-STD'],
        ]),
        s.correlationId,
      );
      s.advance(1 * MINUTE);
      const fixed = await ingestHashFile(s.intakeDeps, await upload(s, 'fixed', [['RS3A', hashOf('RS3A'), 'MPS-STD']]), s.correlationId);
      expect(await s.device('RS3A')).toMatchObject({ state: 'received', batchId: fixed.batchId });

      const summary = await summaryOf(s, first.batchId!);
      expect(summary.rejects).toEqual([{ line: 2, serialNumber: 'RS3A', state: 'rejected', reasons: ['invalid-hash'], note: undefined }]);
      expect(summary.devices).toEqual({ total: 2, byState: { received: 1, rejected: 1 } });
      expect(summary.devices.byState.rejected).toBe(first.counts.rejected);
      expect(summary.moved).toBe(0);
    });

    it('lists a row the storage refused (value-too-long), once however often the rows are recorded', async () => {
      const s = await scenarios.scenario();
      const batch = {
        batchId: 'b-refused-summary',
        supplierId: 'contoso',
        fileName: 'refused.csv',
        blobName: 'contoso/refused.csv',
        contentSha256: '0'.repeat(64),
        sizeBytes: 1,
        status: 'processing' as const,
        receivedAt: s.now().toISOString(),
        completedAt: undefined,
        format: undefined,
        encoding: undefined,
        fileRejection: undefined,
        counts: {},
        reportBlob: undefined,
        correlationId: s.correlationId,
      };
      await s.batches.create(batch);
      const row = (line: number, serialNumber: string, hardwareHash: string) => ({
        line,
        serialNumber,
        status: 'accepted' as const,
        errors: [],
        warnings: [],
        device: { serialNumber, hardwareHash },
      });
      // Past validation (which bounds it) a value Table Storage refuses.
      const rows = [row(2, 'RS2A', hashOf('RS2A')), row(3, 'RS2B', 'A'.repeat(40_000))];
      const record = () =>
        recordRows(
          { deps: s.intakeDeps, batch, correlationId: s.correlationId, log: s.deps.log.child({ correlationId: s.correlationId }) },
          {
            rows: (async function* () {
              yield* rows;
            })(),
            outcome: Promise.resolve({ counts: { total: 2, accepted: 2, rejected: 0 }, bytesRead: 1 }),
          },
          8,
        );

      expect((await record()).counts).toMatchObject({ rows: 2, accepted: 1, rejected: 1 });
      await record();

      const summary = await summaryOf(s, batch.batchId);
      expect(summary.rejects).toEqual([{ line: 3, serialNumber: 'RS2B', state: 'rejected', reasons: ['value-too-long'], note: undefined }]);
      expect(summary.devices).toEqual({ total: 2, byState: { received: 1, rejected: 1 } });
    });
  });

  describe('ownership: a device belongs to the supplier whose file first had an accepted row for it', () => {
    /** Another hardware hash for the same serial, as a second supplier would capture it. */
    const otherHash = (serialNumber: string): string => sampleDevice(new Random(7), { serialNumber }).hardwareHash;
    const FABRIKAM_USER = 'someone@fabrikam.example';

    it("rejects another supplier's rows for a device in any state (owned-by-other-supplier): record, history, queues and Autopilot untouched", async () => {
      const s = await scenarios.scenario();
      const inAutopilot = (serial: string) => s.sim.addAutopilotIdentity({ serialNumber: serial, groupTag: 'MPS-STD' }).id;
      const request = deskRequest(s, {
        requestId: '3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5f8',
        action: 'deregister',
        ticket: 'INC44',
        fromState: 'enrolled',
        stage: 'done',
      });
      // Contoso's devices, in every state a row can find them in.
      const given = {
        OW1A: await s.given('OW1A', 'received', { assignedUser: 'user@contoso.example' }),
        OW1B: await s.given('OW1B', 'importing'),
        OW1C: await s.given('OW1C', 'registered', { autopilotId: inAutopilot('OW1C') }),
        OW1D: await s.given('OW1D', 'profile-assigned', { autopilotId: inAutopilot('OW1D') }),
        OW1E: await s.given('OW1E', 'enrolled', { autopilotId: inAutopilot('OW1E') }),
        OW1F: await s.given('OW1F', 'failed'),
        OW1G: await s.given('OW1G', 'stalled'),
        OW1H: await s.given('OW1H', 'deregistered', { reprovision: { ...request, allowReimport: false } }),
        // A bad row of the other supplier must not touch it either.
        OW1I: await s.given('OW1I', 'received'),
      };
      const tagsBefore = s.sim.autopilotIdentities().map((i) => [i.serialNumber, i.groupTag]);
      s.advance(1 * MINUTE);
      const blobName = await upload(
        s,
        'takeover',
        [
          ...(['OW1A', 'OW1B', 'OW1C', 'OW1D', 'OW1E', 'OW1F', 'OW1G', 'OW1H'] as const).map((serial): Row => [
            serial,
            otherHash(serial),
            'FAB-ORDER-1',
            FABRIKAM_USER,
          ]),
          ['OW1I', 'bm90IGEgaGFzaA==', 'FAB-ORDER-1'],
        ],
        'fabrikam',
      );
      s.resetGraphCalls();

      const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

      expect(result.counts).toMatchObject({ rows: 9, accepted: 0, unchanged: 0, updated: 0, rejected: 9, queued: 0 });
      for (const [serial, before] of Object.entries(given)) {
        expect((await s.devices.get(serial))?.etag, serial).toBe(before.etag);
        expect(await s.newEvents(serial), serial).toEqual([]);
      }
      expect(await reportRows(s, result.reportBlob)).toEqual([
        ['2', 'OW1A', 'rejected', 'owned-by-other-supplier'],
        ['3', 'OW1B', 'rejected', 'owned-by-other-supplier'],
        ['4', 'OW1C', 'rejected', 'owned-by-other-supplier'],
        ['5', 'OW1D', 'rejected', 'owned-by-other-supplier'],
        ['6', 'OW1E', 'rejected', 'owned-by-other-supplier'],
        ['7', 'OW1F', 'rejected', 'owned-by-other-supplier'],
        ['8', 'OW1G', 'rejected', 'owned-by-other-supplier'],
        // Without allowReimport nobody may bring it back, its owner included.
        ['9', 'OW1H', 'rejected', 'deregistered-device'],
        ['10', 'OW1I', 'rejected', 'invalid-hash'],
      ]);
      // The supplier learns that the device is not theirs, not whose it is; operations see both.
      const report = await s.intakeDeps.blobs.readText(RESULTS_CONTAINER, result.reportBlob);
      expect(report).toContain(reasonText('owned-by-other-supplier'));
      expect(report).not.toContain('contoso');
      // Rows are recorded side by side: the lines come in any order.
      const refused = s.logEvents(EVENTS.rowOwnedByOtherSupplier).map((line) => [line.serial, line.supplier, line.owner, line.line]);
      expect(refused.sort((a, b) => Number(a[3]) - Number(b[3]))).toEqual(
        ['OW1A', 'OW1B', 'OW1C', 'OW1D', 'OW1E', 'OW1F', 'OW1G'].map((serial, index) => [serial, 'fabrikam', 'contoso', index + 2]),
      );
      // Whatever was queued is carried out, as the follow-up handler would: Autopilot keeps its tags.
      const messages = await s.messages();
      for (const message of messages.filter((m) => m.kind === 'retag')) {
        await retag(s.deps, message.payload as RetagPayload, s.correlationId, 0);
      }
      expect(messages).toEqual([]);
      expect(s.graphCalls()).toEqual([]);
      expect(s.sim.autopilotIdentities().map((i) => [i.serialNumber, i.groupTag])).toEqual(tagsBefore);
    });

    it('lets the first accepted row decide: a serial seen only in rejected rows has no owner yet', async () => {
      const s = await scenarios.scenario();
      // Contoso's row for OW2A was rejected: nobody owns it yet.
      await ingestHashFile(s.intakeDeps, await upload(s, 'bad', [['OW2A', hashOf('OW2A'), 'OTHER-TAG']]), s.correlationId);
      expect(await s.device('OW2A')).toMatchObject({ state: 'rejected', supplierId: 'contoso' });
      s.advance(1 * MINUTE);

      const taken = await ingestHashFile(
        s.intakeDeps,
        await upload(s, 'first-accepted', [['OW2A', otherHash('OW2A'), 'FAB-ORDER-1']], 'fabrikam'),
        s.correlationId,
      );

      expect(await s.device('OW2A')).toMatchObject({
        state: 'received',
        supplierId: 'fabrikam',
        ownerId: 'fabrikam',
        batchId: taken.batchId,
        groupTag: 'FAB-ORDER-1',
      });
      s.advance(1 * MINUTE);

      // Now contoso's fixed row comes too late.
      const late = await ingestHashFile(s.intakeDeps, await upload(s, 'fixed', [['OW2A', hashOf('OW2A'), 'MPS-STD']]), s.correlationId);

      expect(await reportRows(s, late.reportBlob)).toEqual([['2', 'OW2A', 'rejected', 'owned-by-other-supplier']]);
      expect(await s.device('OW2A')).toMatchObject({ ownerId: 'fabrikam', batchId: taken.batchId, groupTag: 'FAB-ORDER-1' });
      expect((await s.messages()).map((m) => m.messageId)).toEqual([`import:${taken.batchId}:0`]);
    });

    it('hands a device deregistered with allowReimport to whichever supplier imports it next', async () => {
      const s = await scenarios.scenario();
      const request = deskRequest(s, {
        requestId: '3d0f5a7e-1b2c-4d5e-8f90-a1b2c3d4e5f9',
        action: 'deregister',
        ticket: 'INC45',
        fromState: 'enrolled',
        stage: 'done',
      });
      await s.given('OW3A', 'deregistered', { reprovision: { ...request, allowReimport: true } });
      s.advance(1 * MINUTE);

      const result = await ingestHashFile(
        s.intakeDeps,
        await upload(s, 'reimport', [['OW3A', otherHash('OW3A'), 'FAB-ORDER-2', FABRIKAM_USER]], 'fabrikam'),
        s.correlationId,
      );

      const batchId = result.batchId!;
      expect(await reportRows(s, result.reportBlob)).toEqual([['2', 'OW3A', 'accepted', '']]);
      expect(await s.device('OW3A')).toMatchObject({
        state: 'received',
        generation: 2,
        supplierId: 'fabrikam',
        ownerId: 'fabrikam',
        batchId,
        groupTag: 'FAB-ORDER-2',
        hardwareHash: otherHash('OW3A'),
        assignedUser: FABRIKAM_USER,
      });
      expect(await s.newEvents('OW3A')).toEqual([
        {
          from: 'deregistered',
          to: 'received',
          reason: 'resubmitted-from-file',
          detail: { previousBatchId: 'batch-given', previousState: 'deregistered', owner: 'fabrikam', previousOwner: 'contoso' },
        },
      ]);
      expect((await s.messages()).map((m) => m.payload)).toEqual([
        { source: { kind: 'file', batchId, chunk: 0 }, serialNumbers: ['OW3A'] },
      ]);
    });
  });

  describe('nothing a row lacks is taken away', () => {
    const USER = 'officer@fabrikam.example';

    it('keeps the recorded group tag and user when a known device comes again without them', async () => {
      const s = await scenarios.scenario();
      // Fabrikam has no default tag: its rows without a tag carry none.
      const kept = { supplierId: 'fabrikam', groupTag: 'FAB-ORDER-1', assignedUser: USER };
      const tagged = { ...kept, autopilotGroupTag: 'FAB-ORDER-1' };
      const registered = await s.given('NT1A', 'registered', { ...tagged, autopilotId: 'ap-NT1A' });
      const enrolled = await s.given('NT1B', 'enrolled', { ...tagged, autopilotId: 'ap-NT1B' });
      await s.given('NT1C', 'received', kept);
      await s.given('NT1D', 'failed', kept);
      s.advance(1 * MINUTE);
      const blobName = await upload(
        s,
        'no-tag',
        ['NT1A', 'NT1B', 'NT1C', 'NT1D'].map((serial): Row => [serial, hashOf(serial)]),
        'fabrikam',
      );

      const result = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);

      const batchId = result.batchId!;
      expect(result.counts).toMatchObject({ rows: 4, accepted: 2, unchanged: 2, updated: 0, rejected: 0 });
      // Registered and enrolled: nothing to change, nothing re-tagged.
      expect((await s.devices.get('NT1A'))?.etag).toBe(registered.etag);
      expect((await s.devices.get('NT1B'))?.etag).toBe(enrolled.etag);
      // Imported again from the new file, with the tag and the user they had.
      for (const serial of ['NT1C', 'NT1D']) {
        expect(await s.device(serial), serial).toMatchObject({ state: 'received', generation: 2, batchId, ...kept });
      }
      expect((await reportRows(s, result.reportBlob)).map((row) => row[2])).toEqual(['unchanged', 'unchanged', 'accepted', 'accepted']);
      expect(await s.messages()).toEqual([
        {
          queue: 'ztp-import',
          kind: 'import-chunk',
          messageId: `import:${batchId}:0`,
          payload: { source: { kind: 'file', batchId, chunk: 0 }, serialNumbers: ['NT1C', 'NT1D'] },
        },
      ]);
    });
  });
});
