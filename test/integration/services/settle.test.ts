import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random, sampleDevice } from '../../../local/sample-data.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../../shared/domain/blob-layout.js';
import { parseReport } from '../../../shared/domain/final-report.js';
import { EVENTS } from '../../../shared/events.js';
import { ingestHashFile } from '../../../shared/services/intake/index.js';
import { importChunk } from '../../../shared/services/pipeline/import-chunk.js';
import { pollImports } from '../../../shared/services/pipeline/poll-imports.js';
import type { BatchDeviceIndex } from '../../../shared/services/ports.js';
import { settleBatches, type SettleDeps } from '../../../shared/services/settle.js';
import { batchSummary } from '../../../shared/services/status.js';
import { MINUTE, startScenarioStack, type Scenario, type ScenarioStack } from '../../support/scenario.js';

/**
 * A file from intake to its final report: the index of its devices written by every
 * transition, the batch summary read from it, and the settle step that rewrites the report
 * once every accepted device has an Autopilot outcome.
 */

const HEADER = 'Device Serial Number,Windows Product ID,Hardware Hash,Group Tag';
const random = new Random(4242);

let scenarios: ScenarioStack;

beforeAll(async () => {
  scenarios = await startScenarioStack();
});

afterAll(async () => {
  await scenarios?.stop();
});

/** Trailing bytes after the hash's declared length: accepted by the product's decoder, refused (802) by Autopilot's stricter check. */
function withTrailingBytes(base64: string): string {
  return Buffer.concat([Buffer.from(base64, 'base64'), Buffer.from([0, 0, 0])]).toString('base64');
}

/** The report's rows without the header: line, serial, outcome and reason code. */
async function reportRows(s: Scenario, reportBlob: string): Promise<string[][]> {
  const text = await s.intakeDeps.blobs.readText(RESULTS_CONTAINER, reportBlob);
  if (text === undefined) throw new Error(`no report ${reportBlob}`);
  return parseReport(text)
    .slice(1)
    .map((cells) => cells.slice(0, 4));
}

function settleDeps(s: Scenario): SettleDeps {
  return { batches: s.batches, batchIndex: s.batchIndex, devices: s.devices, blobs: s.intakeDeps.blobs, log: s.deps.log, now: s.now };
}

/** The file's import and its poll, with every index write of a device failing (the transitions are saved); returns that index. */
async function importLosingIndexWrites(s: Scenario, batchId: string, serials: string[]): Promise<BatchDeviceIndex> {
  const lossy: BatchDeviceIndex = {
    entries: (id) => s.batchIndex.entries(id),
    tally: (id) => s.batchIndex.tally(id),
    listed: (id) => s.batchIndex.listed(id),
    markMoved: (...args) => s.batchIndex.markMoved(...args),
    recordRejectedRow: (...args) => s.batchIndex.recordRejectedRow(...args),
    record: async () => {
      throw new Error('table unavailable');
    },
  };
  await importChunk(
    { ...s.deps, batchIndex: lossy },
    { source: { kind: 'file', batchId, chunk: 0 }, serialNumbers: serials },
    s.correlationId,
    0,
  );
  s.advance(2 * MINUTE);
  await pollImports({ ...s.deps, batchIndex: lossy }, { tick: 'imports', at: s.now().toISOString(), idle: 0 }, s.correlationId, 0);
  return lossy;
}

/** A file with a good device, an 806, an 808, an 802 and a row rejected at intake, taken through intake and the import. */
async function fileOfOutcomes(s: Scenario, prefix: string) {
  const [ok, known, foreign, badHash] = ['OK', '806', '808', '802'].map((tag) =>
    sampleDevice(random, { serialNumber: `${prefix}-${tag}` }),
  );
  s.sim.addAutopilotIdentity({ serialNumber: known!.serialNumber, groupTag: 'MPS-STD' });
  const lines = [
    HEADER,
    `${ok!.serialNumber},,${ok!.hardwareHash},MPS-STD`,
    `${known!.serialNumber},,${known!.hardwareHash},MPS-STD`,
    `${foreign!.serialNumber},,${foreign!.hardwareHash},MPS-STD`,
    `${badHash!.serialNumber},,${withTrailingBytes(badHash!.hardwareHash)},MPS-STD`,
    `${prefix}-BAD,,not-a-hash,MPS-STD`,
  ];
  const blobName = `contoso/${s.correlationId}-${prefix}.csv`;
  await s.intakeDeps.blobs.writeText(INTAKE_CONTAINER, blobName, `${lines.join('\r\n')}\r\n`, 'text/csv');
  const intake = await ingestHashFile(s.intakeDeps, blobName, s.correlationId);
  const batchId = intake.batchId!;
  const serials = [ok, known, foreign, badHash].map((d) => d!.serialNumber);
  return { batchId, reportBlob: intake.reportBlob, serials };
}

async function importAll(s: Scenario, batchId: string, serials: string[]): Promise<void> {
  await importChunk(s.deps, { source: { kind: 'file', batchId, chunk: 0 }, serialNumbers: serials }, s.correlationId, 0);
  s.advance(2 * MINUTE);
  await pollImports(s.deps, { tick: 'imports', at: s.now().toISOString(), idle: 0 }, s.correlationId, 0);
}

describe('the final report of a file', () => {
  it('the final report of a file with 806, 808 and 802 rows', async () => {
    const s = await scenarios.scenario({ simulator: { otherTenantSerials: ['FR-808'] } });
    const { batchId, reportBlob, serials } = await fileOfOutcomes(s, 'FR');
    const intakeReport = await reportRows(s, reportBlob);
    expect(intakeReport.map((row) => row.slice(0, 3))).toEqual([
      ['2', 'FR-OK', 'accepted'],
      ['3', 'FR-806', 'accepted'],
      ['4', 'FR-808', 'accepted'],
      ['5', 'FR-802', 'accepted'],
      ['6', 'FR-BAD', 'rejected'],
    ]);

    // Nothing imported yet: the file is not settled, the report stays the intake's.
    expect(await settleBatches(settleDeps(s), s.correlationId)).toEqual({ settled: 0, open: 1 });
    expect((await s.batches.get(batchId))?.value.status).toBe('complete');

    await importAll(s, batchId, serials);
    expect((await Promise.all(serials.map((serial) => s.device(serial)))).map((d) => [d.state, d.reasons])).toEqual([
      ['registered', []],
      ['registered', ['already-registered']],
      ['failed', ['owned-by-other-tenant']],
      ['failed', ['autopilot-rejected-hash']],
    ]);

    // Two sweeps at once: one settles, one `batch.settled`.
    const runs = await Promise.all([settleBatches(settleDeps(s), s.correlationId), settleBatches(settleDeps(s), s.correlationId)]);
    expect(runs.map((run) => run.settled).sort()).toEqual([0, 1]);
    expect(s.logEvents(EVENTS.batchSettled)).toEqual([
      expect.objectContaining({ batchId, counts: { registered: 2, failed: 2 }, devices: 4, reportBlob }),
    ]);
    const settled = (await s.batches.get(batchId))?.value;
    expect(settled).toMatchObject({ status: 'settled', settledAt: s.now().toISOString() });

    expect(await reportRows(s, reportBlob)).toEqual([
      ['2', 'FR-OK', 'registered', ''],
      ['3', 'FR-806', 'registered', 'already-registered'],
      ['4', 'FR-808', 'failed', 'owned-by-other-tenant'],
      ['5', 'FR-802', 'failed', 'autopilot-rejected-hash'],
      intakeReport[4],
    ]);
    const text = await s.intakeDeps.blobs.readText(RESULTS_CONTAINER, reportBlob);
    expect(text?.startsWith('\uFEFF"Line","Serial Number","Outcome","Reason Code","Reason"\r\n')).toBe(true);

    // Settled once: a later sweep leaves it alone.
    expect(await settleBatches(settleDeps(s), s.correlationId)).toEqual({ settled: 0, open: 0 });
    expect(s.logEvents(EVENTS.batchSettled)).toHaveLength(1);
  });

  it('settles again the same after a crash between the report and the batch record', async () => {
    const s = await scenarios.scenario({ simulator: { otherTenantSerials: ['CR-808'] } });
    const { batchId, reportBlob, serials } = await fileOfOutcomes(s, 'CR');
    await importAll(s, batchId, serials);
    const crashing: SettleDeps = {
      ...settleDeps(s),
      batches: {
        ...s.batches,
        withStatus: (status) => s.batches.withStatus(status),
        save: async () => {
          throw new Error('stopped before the batch record was saved');
        },
      },
    };
    await expect(settleBatches(crashing, s.correlationId)).rejects.toThrow('stopped');
    const afterCrash = await s.intakeDeps.blobs.readText(RESULTS_CONTAINER, reportBlob);
    expect((await s.batches.get(batchId))?.value.status).toBe('complete');

    expect(await settleBatches(settleDeps(s), s.correlationId)).toEqual({ settled: 1, open: 0 });
    expect(await s.intakeDeps.blobs.readText(RESULTS_CONTAINER, reportBlob)).toBe(afterCrash);
  });
});

describe('the batch summary', () => {
  it('is read from the index of the file, never from the devices table', async () => {
    const s = await scenarios.scenario({ simulator: { otherTenantSerials: ['SU-808'] } });
    const { batchId, serials } = await fileOfOutcomes(s, 'SU');
    // A device record naming this batch that never went through the lifecycle: not in the index, not counted.
    await s.given('SU-STRAY', 'failed', { batchId });
    const reads: string[] = [];
    const counting: Pick<BatchDeviceIndex, 'tally' | 'listed'> = {
      tally: (id) => {
        reads.push('tally');
        return s.batchIndex.tally(id);
      },
      listed: (id) => {
        reads.push('listed');
        return s.batchIndex.listed(id);
      },
    };
    const before = await batchSummary({ batches: s.batches, batchIndex: counting }, batchId);
    expect(reads).toEqual(['tally', 'listed']);
    expect(before?.devices).toEqual({ total: 5, byState: { received: 4, rejected: 1 } });
    expect(before?.rejects).toEqual([{ serialNumber: 'SU-BAD', line: 6, state: 'rejected', reasons: ['invalid-hash'], note: undefined }]);

    await importAll(s, batchId, serials);
    const after = await batchSummary({ batches: s.batches, batchIndex: s.batchIndex }, batchId);
    expect(after?.devices).toEqual({ total: 5, byState: { registered: 2, failed: 2, rejected: 1 } });
    expect(after?.waitingFor).toEqual({ 'profile-assignment': 2 });
    expect(after?.rejects.map((reject) => [reject.serialNumber, reject.state, reject.reasons])).toEqual([
      ['SU-808', 'failed', ['owned-by-other-tenant']],
      ['SU-802', 'failed', ['autopilot-rejected-hash']],
      ['SU-BAD', 'rejected', ['invalid-hash']],
    ]);
  });

  it('keeps a transition whose index write fails, and the settle step repairs the entry', async () => {
    const s = await scenarios.scenario({ simulator: { otherTenantSerials: ['IX-808'] } });
    const { batchId, reportBlob, serials } = await fileOfOutcomes(s, 'IX');
    await importLosingIndexWrites(s, batchId, serials);
    expect((await s.device('IX-OK')).state).toBe('registered');
    expect(s.logEvents(EVENTS.batchIndexFailed).length).toBeGreaterThanOrEqual(4);
    expect((await batchSummary({ batches: s.batches, batchIndex: s.batchIndex }, batchId))?.devices.byState).toEqual({
      received: 4,
      rejected: 1,
    });

    expect(await settleBatches(settleDeps(s), s.correlationId)).toEqual({ settled: 1, open: 0 });
    expect((await batchSummary({ batches: s.batches, batchIndex: s.batchIndex }, batchId))?.devices.byState).toEqual({
      registered: 2,
      failed: 2,
      rejected: 1,
    });
    expect((await reportRows(s, reportBlob)).map((row) => row[2])).toEqual(['registered', 'registered', 'failed', 'failed', 'rejected']);
  });

  it('costs a waiting file one read per run, and reads it whole once its entries stop moving, to repair what a lost index write left', async () => {
    const s = await scenarios.scenario({ simulator: { otherTenantSerials: ['RP-808'] } });
    const { batchId, serials } = await fileOfOutcomes(s, 'RP');
    const lossy = await importLosingIndexWrites(s, batchId, serials);
    expect((await s.device('RP-OK')).state).toBe('registered');

    let wholeReads = 0;
    const counted: BatchDeviceIndex = {
      ...lossy,
      record: (...args) => s.batchIndex.record(...args),
      entries: (id) => {
        wholeReads++;
        return s.batchIndex.entries(id);
      },
    };
    const deps: SettleDeps = { ...settleDeps(s), batchIndex: counted, repairAfterMs: 10 * MINUTE };
    // The counts still show the devices received: the file is not read.
    expect(await settleBatches(deps, s.correlationId)).toEqual({ settled: 0, open: 1 });
    expect(wholeReads).toBe(0);
    // Ten minutes on and no entry changed: read whole, each waiting entry checked against its record, and settled.
    s.advance(10 * MINUTE);
    expect(await settleBatches(deps, s.correlationId)).toEqual({ settled: 1, open: 0 });
    expect(wholeReads).toBe(1);
    expect((await s.batchIndex.tally(batchId)).counts.byState).toEqual({ registered: 2, failed: 2 });
  });
});
