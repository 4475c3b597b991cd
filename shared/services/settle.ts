import type { BatchRecord } from '../domain/batch.js';
import { awaitingOutcome, awaitsOutcome } from '../domain/batch-counts.js';
import { RESULTS_CONTAINER } from '../domain/blob-layout.js';
import type { Clock } from '../domain/clock.js';
import { parseReport, settledReport, type FinalOutcome } from '../domain/final-report.js';
import type { DeviceState } from '../domain/lifecycle.js';
import { ConcurrencyConflictError } from '../errors.js';
import { EVENTS } from '../events.js';
import type { Logger } from '../log.js';
import { indexDevice } from './device-lifecycle.js';
import type { BatchDeviceEntry, BatchDeviceIndex, BatchStore, BlobFiles, DeviceStore, Versioned } from './ports.js';

/**
 * Settling a file: once every device the file accepted has an Autopilot outcome (no longer
 * `received` or `importing`), its report is written again in place with each accepted row's
 * outcome, and the batch record gets status `settled` and `settledAt`; one `batch.settled`.
 *
 * The sweeper runs it every few minutes over the batches still `complete` (one per file, few
 * at a time), each read from its own index partition. Safe to run twice at once and to run
 * again after a crash half way: the report is derived from the index and the report's own
 * rows, so writing it twice writes the same; the record's ETag-guarded save lets one run
 * settle the batch, and only that run logs `batch.settled`.
 *
 * Entries still waiting are checked against their device records (point reads): an index
 * write that failed after a transition is repaired here, and never holds a file back. An
 * accepted row with no entry at all is looked up by its serial the same way.
 */

export interface SettleDeps {
  readonly batches: Pick<BatchStore, 'save' | 'withStatus'>;
  readonly batchIndex: BatchDeviceIndex;
  readonly devices: Pick<DeviceStore, 'get'>;
  readonly blobs: Pick<BlobFiles, 'readText' | 'writeText'>;
  readonly log: Logger;
  readonly now: Clock;
  /**
   * A file whose counts still show devices waiting is read whole (and its waiting entries
   * checked against their records) only once no entry of it has changed for this long: an
   * index write lost after a transition leaves its file waiting, and the counts alone would
   * never show it. Until then a run costs the file one read. Undefined: read it every run.
   */
  readonly repairAfterMs?: number;
}

export interface SettleSummary {
  /** Batches this run settled. */
  readonly settled: number;
  /** Batches still waiting for an Autopilot outcome of some device. */
  readonly open: number;
}

const REPORT_CONTENT_TYPE = 'text/csv; charset=utf-8';

export async function settleBatches(deps: SettleDeps, correlationId: string): Promise<SettleSummary> {
  let settled = 0;
  let open = 0;
  for await (const batch of deps.batches.withStatus('complete')) {
    if (await settleBatch(deps, batch, correlationId)) settled++;
    else open++;
  }
  return { settled, open };
}

/** True when this call settled the batch. */
export async function settleBatch(deps: SettleDeps, found: Versioned<BatchRecord>, correlationId: string): Promise<boolean> {
  const batch = found.value;
  if (!(await worthReading(deps, batch.batchId))) return false;
  const log = deps.log.child({ correlationId, batchId: batch.batchId, supplier: batch.supplierId });
  const entries = new Map<number, BatchDeviceEntry>();
  for await (const entry of deps.batchIndex.entries(batch.batchId)) {
    const current = awaitsOutcome(entry) ? await repaired(deps, log, batch.batchId, entry) : entry;
    if (current === undefined || awaitsOutcome(current)) return false;
    entries.set(current.line, current);
  }

  const report = batch.reportBlob === undefined ? undefined : await deps.blobs.readText(RESULTS_CONTAINER, batch.reportBlob);
  // Read while another run was rewriting it, a report can come back cut short: never settle from one.
  if (report !== undefined && typeof batch.counts.rows === 'number' && parseReport(report).length - 1 < batch.counts.rows) return false;
  if (report !== undefined) {
    // An accepted row whose device has no entry here (its index write failed): its record decides.
    for (const [line, serial, outcome] of parseReport(report).slice(1)) {
      if (outcome !== 'accepted' || serial === undefined || serial === '' || entries.has(Number(line))) continue;
      const device = (await deps.devices.get(unneutralised(serial)))?.value;
      if (device === undefined || device.batchId !== batch.batchId || device.line !== Number(line)) continue;
      await indexDevice(deps.batchIndex, log, device, { reason: 'accepted-from-file' }, undefined);
      if (awaitsOutcome({ state: device.state, movedTo: undefined })) return false;
      entries.set(device.line, { ...entryOf(device), accepted: true, movedTo: undefined });
    }
  }

  const outcomes = new Map<number, FinalOutcome>();
  const byState: Partial<Record<DeviceState, number>> = {};
  for (const entry of entries.values()) {
    // A rejected row (its device's entry, or its own without one) keeps the outcome the intake reported.
    if (!entry.accepted) continue;
    outcomes.set(entry.line, { state: entry.state, reasons: entry.reasons, note: entry.note });
    byState[entry.state] = (byState[entry.state] ?? 0) + 1;
  }
  if (report !== undefined && batch.reportBlob !== undefined) {
    await deps.blobs.writeText(RESULTS_CONTAINER, batch.reportBlob, settledReport(report, outcomes), REPORT_CONTENT_TYPE);
  }
  const settledAt = deps.now().toISOString();
  try {
    await deps.batches.save({ ...batch, status: 'settled', settledAt }, found.etag);
  } catch (error) {
    // Another run settled it first (it wrote the same report).
    if (error instanceof ConcurrencyConflictError) return false;
    throw error;
  }
  log.info(
    { event: EVENTS.batchSettled, settledAt, counts: byState, devices: outcomes.size, reportBlob: batch.reportBlob ?? null },
    `file settled: every accepted device has an Autopilot outcome; report ${batch.reportBlob ?? '(none)'} rewritten`,
  );
  return true;
}

/** Whether the file may be ready to settle, or its entries are due a check against their records. */
async function worthReading(deps: SettleDeps, batchId: string): Promise<boolean> {
  if (deps.repairAfterMs === undefined) return true;
  const { counts, changedAt } = await deps.batchIndex.tally(batchId);
  if (awaitingOutcome(counts) === 0 || changedAt === undefined) return true;
  return deps.now().getTime() - Date.parse(changedAt) >= deps.repairAfterMs;
}

/** A waiting entry checked against its device: brought up to date when the device moved on since. */
async function repaired(deps: SettleDeps, log: Logger, batchId: string, entry: BatchDeviceEntry): Promise<BatchDeviceEntry | undefined> {
  const device = (await deps.devices.get(entry.serialNumber))?.value;
  if (device === undefined || device.eventCount <= entry.eventCount) return entry;
  if (device.batchId !== batchId) {
    await deps.batchIndex.markMoved(batchId, entry, device.batchId);
    log.info({ event: EVENTS.batchIndexRepaired, serial: entry.serialNumber, movedTo: device.batchId }, 'index entry repaired: moved');
    return { ...entry, movedTo: device.batchId };
  }
  await deps.batchIndex.record(batchId, { ...entryOf(device), accepted: entry.accepted });
  log.info(
    { event: EVENTS.batchIndexRepaired, serial: entry.serialNumber, from: entry.state, to: device.state },
    `index entry of ${entry.serialNumber} repaired from its device record`,
  );
  return { ...entryOf(device), accepted: entry.accepted, movedTo: undefined };
}

function entryOf(device: {
  serialNumber: string;
  line: number;
  state: DeviceState;
  reasons: readonly string[];
  note: string | undefined;
  waitingFor: BatchDeviceEntry['waitingFor'];
  eventCount: number;
}): Omit<BatchDeviceEntry, 'accepted' | 'movedTo'> {
  const { serialNumber, line, state, reasons, note, waitingFor, eventCount } = device;
  return { serialNumber, line, state, reasons, note, waitingFor, eventCount };
}

/** A serial as the report wrote it: a serial cannot hold a quote, so a leading one is the report's neutralising mark. */
function unneutralised(cell: string): string {
  return cell.startsWith("'") ? cell.slice(1) : cell;
}
