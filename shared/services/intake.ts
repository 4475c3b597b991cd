import { createHash } from 'node:crypto';
import type { BatchRecord } from '../domain/batch.js';
import type { Clock } from '../domain/clock.js';
import {
  fileChunkMessage,
  importChunkQueue,
  retagMessage,
  retagQueue,
  type ImportChunkMessage,
  type RetagPayload,
} from '../messages/index.js';
import type { BatchStore, BlobFiles, DeviceStore, MessageQueue, Versioned } from './ports.js';
import type { DeviceRecord } from '../domain/device.js';
import {
  validateHashFile,
  type AcceptedDevice,
  type FileOutcome,
  type HashFileOptions,
  type ValidatedRow,
} from '../domain/hash-file/index.js';
import { reportRowFromValidatedRow, ResultReportWriter, type ReportOutcome, type ReportRow } from '../domain/result-report.js';
import { findSupplier, type SupplierPolicy } from '../domain/suppliers.js';
import { ConcurrencyConflictError, EntityExistsError, IntakeInconsistencyError } from '../errors.js';
import type { Logger } from '../log.js';
import { EVENTS } from '../events.js';
import { applyTransition, recordNewDevice } from './device-lifecycle.js';

/**
 * Supplier intake: one uploaded hash file -> a batch record, a device record (and history
 * event) per row with a usable serial, import work queued in chunks, and the supplier's
 * result report. Safe to run any number of times for the same blob: the batch is keyed by
 * content hash, device writes are guarded, and queued chunks carry deterministic message ids.
 */

export const INTAKE_CONTAINER = 'hash-uploads';
export const RESULTS_CONTAINER = 'hash-results';

export interface IntakeDeps {
  readonly blobs: BlobFiles;
  readonly devices: Pick<DeviceStore, 'get' | 'create' | 'save'>;
  readonly batches: BatchStore;
  readonly queue: Pick<MessageQueue, 'send'>;
  readonly suppliers: readonly SupplierPolicy[];
  readonly limits: { readonly maxFileBytes: number; readonly maxRows: number; readonly importChunkSize: number };
  readonly log: Logger;
  readonly now: Clock;
  /** Rows recorded at once; Table Storage calls overlap this much. */
  readonly concurrency?: number;
}

export interface IntakeResult {
  readonly batchId: string | undefined;
  readonly status: 'complete' | 'rejected' | 'duplicate' | 'skipped';
  readonly counts: Readonly<Record<string, number>>;
  readonly reportBlob: string;
}

/** `hash-uploads/{supplierId}/{fileName}` -> its parts; undefined when not in a supplier folder. */
export function parseIntakePath(blobName: string): { supplierId: string; fileName: string } | undefined {
  const slash = blobName.indexOf('/');
  if (slash <= 0 || slash === blobName.length - 1) return undefined;
  return { supplierId: blobName.slice(0, slash), fileName: blobName.slice(slash + 1) };
}

export function reportBlobName(supplierId: string, fileName: string): string {
  return `${supplierId}/${fileName}.result.csv`;
}

async function firstPass(
  open: () => Promise<AsyncIterable<Uint8Array>>,
  options: HashFileOptions,
): Promise<{ contentSha256: string; outcome: FileOutcome }> {
  let hash = createHash('sha256');
  const source = await open();
  async function* hashing(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const validation = validateHashFile(hashing(), options);
  for await (const row of validation.rows) void row;
  const outcome = await validation.outcome;
  if (outcome.rejected) {
    // Validation stopped reading early: hash the whole file for a stable batch id.
    hash = createHash('sha256');
    for await (const chunk of await open()) hash.update(chunk);
  }
  return { contentSha256: hash.digest('hex'), outcome };
}

type RowOutcome = { outcome: ReportOutcome; code?: string; message?: string; queue?: string; retag?: RetagPayload };

function reportRow(row: ValidatedRow, outcome: RowOutcome): ReportRow {
  const base = reportRowFromValidatedRow(row);
  if (outcome.outcome === 'accepted' || outcome.outcome === 'rejected') return base;
  return { ...base, outcome: outcome.outcome, message: [outcome.message, base.message].filter(Boolean).join(' ') };
}

export async function ingestHashFile(deps: IntakeDeps, blobName: string, correlationId: string): Promise<IntakeResult> {
  const log = deps.log.child({ correlationId, blobName });
  const path = parseIntakePath(blobName);
  const info = await deps.blobs.info(INTAKE_CONTAINER, blobName);
  if (!info) {
    log.warn({ event: EVENTS.intakeBlobMissing }, 'intake blob no longer exists; nothing to do');
    return { batchId: undefined, status: 'skipped', counts: {}, reportBlob: '' };
  }
  const supplierId = path?.supplierId ?? '';
  const fileName = path?.fileName ?? blobName;
  const report = reportBlobName(supplierId || 'unknown-supplier', fileName);
  const supplier = path ? findSupplier(deps.suppliers, path.supplierId) : undefined;

  if (!supplier) {
    const message = path
      ? `"${path.supplierId}" is not a configured supplier; files must be uploaded into the folder of a configured supplier`
      : 'files must be uploaded into a supplier folder: hash-uploads/{supplierId}/{file}.csv';
    await deps.blobs.writeText(
      RESULTS_CONTAINER,
      report,
      ResultReportWriter.fileRejected('unknown-supplier', message),
      'text/csv; charset=utf-8',
    );
    log.warn({ event: EVENTS.batchRejected, supplier: supplierId, reason: 'unknown-supplier' }, 'file rejected: unknown supplier');
    return { batchId: undefined, status: 'rejected', counts: {}, reportBlob: report };
  }

  // First pass: content hash (the batch id) and the file-level verdict, acting on nothing —
  // a whole-file rejection can only be known at the end of the file.
  const open = (): Promise<AsyncIterable<Uint8Array>> => deps.blobs.openRead(INTAKE_CONTAINER, blobName, info.etag);
  const { contentSha256, outcome: verdict } = await firstPass(open, {
    supplier,
    maxBytes: deps.limits.maxFileBytes,
    maxRows: deps.limits.maxRows,
  });
  const batchId = contentSha256.slice(0, 32);
  const batchLog = log.child({ batchId, supplier: supplier.id });

  const existing = await deps.batches.get(batchId);
  if (existing && existing.value.status !== 'processing') {
    return replayFinishedBatch(deps, existing.value, report, batchLog);
  }

  const started =
    existing ??
    (await createBatch(deps, {
      batchId,
      supplierId: supplier.id,
      fileName,
      blobName,
      contentSha256,
      sizeBytes: info.size,
      status: 'processing',
      receivedAt: deps.now().toISOString(),
      completedAt: undefined,
      format: undefined,
      encoding: undefined,
      fileRejection: undefined,
      counts: {},
      reportBlob: report,
      correlationId,
    }));
  batchLog.info(
    { event: existing ? EVENTS.batchResumed : EVENTS.batchReceived, fileName, sizeBytes: info.size },
    'processing supplier file',
  );

  if (verdict.rejected) return finishRejected(deps, started, report, verdict.rejected, batchLog, verdict);

  const writer = new ResultReportWriter();
  const counts: Record<string, number> = { rows: 0, accepted: 0, rejected: 0, unchanged: 0, updated: 0 };
  const toImport: string[] = [];
  const retags: RetagPayload[] = [];
  const ctx = { deps, batch: started.value, correlationId, log: batchLog };

  const validation = validateHashFile(await open(), {
    supplier,
    maxBytes: deps.limits.maxFileBytes,
    maxRows: deps.limits.maxRows,
  });

  // Rows are recorded a window at a time (Table Storage calls overlap) but reported and
  // chunked in file order, so re-runs produce the same chunks and message ids.
  const windowSize = deps.concurrency ?? 16;
  const chunkSize = deps.limits.importChunkSize;
  let chunksSent = 0;
  // A chunk goes out as soon as it is full, so the import starts while the file is still read.
  const sendChunks = async (all: boolean): Promise<void> => {
    const messages: ImportChunkMessage[] = [];
    while (chunksSent * chunkSize < toImport.length && (all || (chunksSent + 1) * chunkSize <= toImport.length)) {
      const serialNumbers = toImport.slice(chunksSent * chunkSize, (chunksSent + 1) * chunkSize);
      messages.push(fileChunkMessage(batchId, chunksSent, serialNumbers, correlationId));
      chunksSent++;
    }
    await deps.queue.send(importChunkQueue, messages);
  };
  let window: ValidatedRow[] = [];
  const flush = async (): Promise<void> => {
    const outcomes = await Promise.all(window.map((row) => recordRow(ctx, row)));
    window.forEach((row, index) => {
      const outcome = outcomes[index]!;
      counts.rows = (counts.rows ?? 0) + 1;
      counts[outcome.outcome] = (counts[outcome.outcome] ?? 0) + 1;
      writer.add(reportRow(row, outcome));
      if (outcome.queue) toImport.push(outcome.queue);
      if (outcome.retag) retags.push(outcome.retag);
    });
    window = [];
    await sendChunks(false);
  };
  for await (const row of validation.rows) {
    window.push(row);
    if (window.length >= windowSize) await flush();
  }
  await flush();

  const fileOutcome = await validation.outcome;
  if (fileOutcome.rejected) {
    // The blob cannot change under an ETag-pinned read, so the passes agree; this guards the impossible.
    throw new IntakeInconsistencyError(`Second pass over ${blobName} disagreed with the first: ${fileOutcome.rejected.code}`);
  }

  await sendChunks(true);
  await deps.queue.send(
    retagQueue,
    retags.map((payload) => retagMessage(payload, correlationId)),
  );

  await deps.blobs.writeText(RESULTS_CONTAINER, report, writer.toString(), 'text/csv; charset=utf-8');
  const done: BatchRecord = {
    ...started.value,
    status: 'complete',
    completedAt: deps.now().toISOString(),
    format: fileOutcome.format,
    encoding: fileOutcome.encoding,
    counts: { ...counts, queued: toImport.length, chunks: chunksSent },
  };
  await saveBatch(deps, done);
  batchLog.info({ event: EVENTS.batchCompleted, counts: done.counts }, 'supplier file processed');
  return { batchId, status: 'complete', counts: done.counts, reportBlob: report };
}

interface RowContext {
  readonly deps: IntakeDeps;
  readonly batch: BatchRecord;
  readonly correlationId: string;
  readonly log: Logger;
}

const RESUBMITTABLE: ReadonlySet<DeviceRecord['state']> = new Set(['rejected', 'failed', 'deregistered']);
const MAX_CONFLICT_RETRIES = 8;

/** Records one validated row, re-reading and deciding again when another writer got there first. */
async function recordRow(ctx: RowContext, row: ValidatedRow): Promise<RowOutcome> {
  for (let attempt = 0; ; attempt++) {
    try {
      return row.status === 'accepted' && row.device ? await recordAccepted(ctx, row, row.device) : await recordRejected(ctx, row);
    } catch (error) {
      const raced = error instanceof ConcurrencyConflictError || error instanceof EntityExistsError;
      if (!raced || attempt >= MAX_CONFLICT_RETRIES) throw error;
    }
  }
}

async function recordRejected(ctx: RowContext, row: ValidatedRow): Promise<RowOutcome> {
  const outcome: RowOutcome = { outcome: 'rejected' };
  // A duplicate row must not touch the device its first occurrence recorded.
  const serialNumber = row.serialNumber;
  if (!serialNumber || row.errors.some((e) => e.code === 'duplicate-in-file')) return outcome;
  const { deps, batch, correlationId, log } = ctx;
  const reasons = row.errors.map((e) => e.code);
  const current = await createUnlessKnown(deps.devices, serialNumber, () =>
    recordNewDevice(
      deps.devices,
      log,
      { serialNumber, supplierId: batch.supplierId, batchId: batch.batchId, line: row.line, reasons },
      'rejected',
      'rejected-from-file',
      correlationId,
      deps.now(),
      { reasons },
    ),
  );
  if (current && current.value.state === 'rejected' && current.value.batchId !== batch.batchId) {
    await applyTransition(deps.devices, log, current, {
      to: 'rejected',
      reason: 'rejected-from-file',
      correlationId,
      now: deps.now(),
      changes: { batchId: batch.batchId, supplierId: batch.supplierId, line: row.line, reasons },
      detail: { reasons },
    });
  }
  // A bad row never downgrades a device that is already further along.
  return outcome;
}

async function recordAccepted(ctx: RowContext, row: ValidatedRow, device: AcceptedDevice): Promise<RowOutcome> {
  const { deps, batch, correlationId, log } = ctx;
  const data = {
    serialNumber: device.serialNumber,
    supplierId: batch.supplierId,
    batchId: batch.batchId,
    line: row.line,
    groupTag: device.groupTag,
    productKey: device.productKey,
    hardwareHash: device.hardwareHash,
    assignedUser: device.assignedUser,
    manufacturer: device.manufacturer,
    model: device.model,
  };
  const accepted: RowOutcome = { outcome: 'accepted', queue: device.serialNumber };
  const current = await createUnlessKnown(deps.devices, device.serialNumber, () =>
    recordNewDevice(deps.devices, log, data, 'received', 'accepted-from-file', correlationId, deps.now()),
  );
  if (!current) return accepted;
  const known = current.value;
  // Recorded by an earlier run of this same batch: queue it again; the chunk ids dedupe.
  if (known.batchId === batch.batchId) return accepted;
  if (RESUBMITTABLE.has(known.state) || known.state === 'received') {
    await applyTransition(deps.devices, log, current, {
      to: 'received',
      reason: known.state === 'received' ? 'group-tag-changed' : 'resubmitted-from-file',
      correlationId,
      now: deps.now(),
      changes: { ...data, generation: known.generation + 1, reasons: [], note: undefined },
      detail: { previousBatchId: known.batchId, previousState: known.state },
    });
    return accepted;
  }
  const wanted = device.groupTag ?? '';
  if (wanted === (known.groupTag ?? '')) {
    // Re-sent (same id, deduplicated) when Autopilot still lags behind: covers a crash
    // between recording a new tag and queueing its re-tag.
    const lagging = known.autopilotGroupTag !== undefined && known.autopilotGroupTag !== wanted;
    return {
      outcome: 'unchanged',
      message: `already known (state ${known.state}); nothing to change`,
      ...(lagging ? { retag: { serialNumber: known.serialNumber, generation: known.generation } } : {}),
    };
  }
  // The device keeps the batch that registered it; the re-tag is in its history. An enrolled
  // device is watched again (by the Autopilot poll) until Autopilot has its new tag.
  const generation = known.generation + 1;
  const tagPending = known.state === 'enrolled' && wanted !== (known.autopilotGroupTag ?? '');
  const watchEnrolled =
    known.state === 'enrolled'
      ? { waitingFor: tagPending ? ('group-tag' as const) : undefined, waitingSince: tagPending ? deps.now().toISOString() : undefined }
      : {};
  await applyTransition(deps.devices, log, current, {
    to: known.state,
    reason: 'group-tag-changed',
    correlationId,
    now: deps.now(),
    changes: { groupTag: device.groupTag, generation, ...watchEnrolled },
    detail: { previousGroupTag: known.groupTag ?? null, groupTag: device.groupTag ?? null, retagBatchId: batch.batchId, line: row.line },
  });
  return {
    outcome: 'updated',
    message: `already known (state ${known.state}); group tag changes from "${known.groupTag ?? ''}" to "${wanted}"`,
    retag: { serialNumber: device.serialNumber, generation },
  };
}

/**
 * Nearly every row of a delivery is a device seen for the first time, so the insert is tried
 * first and the record read only when it already exists: one Table Storage round trip per
 * new device instead of two. Undefined when this call created the device.
 */
async function createUnlessKnown(
  devices: IntakeDeps['devices'],
  serialNumber: string,
  create: () => Promise<unknown>,
): Promise<Versioned<DeviceRecord> | undefined> {
  try {
    await create();
    return undefined;
  } catch (error) {
    if (!(error instanceof EntityExistsError)) throw error;
  }
  const current = await devices.get(serialNumber);
  // Gone again between the two calls: recordRow starts the row over.
  if (!current) throw new ConcurrencyConflictError('devices', serialNumber, 'device');
  return current;
}

async function createBatch(deps: IntakeDeps, batch: BatchRecord): Promise<Versioned<BatchRecord>> {
  try {
    return await deps.batches.create(batch);
  } catch (error) {
    // A concurrent run of the same content created it first: carry on with theirs.
    if (!(error instanceof EntityExistsError)) throw error;
    const theirs = await deps.batches.get(batch.batchId);
    if (!theirs) throw error;
    return theirs;
  }
}

async function saveBatch(deps: IntakeDeps, batch: BatchRecord): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const current = await deps.batches.get(batch.batchId);
    if (!current) {
      await createBatch(deps, batch);
      return;
    }
    try {
      await deps.batches.save({ ...batch, receivedAt: current.value.receivedAt }, current.etag);
      return;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw error;
    }
  }
}

async function finishRejected(
  deps: IntakeDeps,
  started: Versioned<BatchRecord>,
  report: string,
  rejected: { code: string; message: string },
  log: Logger,
  outcome?: { format?: string; encoding?: string },
): Promise<IntakeResult> {
  await deps.blobs.writeText(
    RESULTS_CONTAINER,
    report,
    ResultReportWriter.fileRejected(rejected.code, rejected.message),
    'text/csv; charset=utf-8',
  );
  const batch: BatchRecord = {
    ...started.value,
    status: 'rejected',
    completedAt: deps.now().toISOString(),
    format: outcome?.format,
    encoding: outcome?.encoding,
    fileRejection: rejected,
  };
  await saveBatch(deps, batch);
  log.warn({ event: EVENTS.batchRejected, reason: rejected.code }, `file rejected: ${rejected.message}`);
  return { batchId: batch.batchId, status: 'rejected', counts: batch.counts, reportBlob: report };
}

/**
 * The same content again (another name, or a redelivered trigger): nothing is imported
 * again; the supplier still gets a report under the new file's name.
 */
async function replayFinishedBatch(deps: IntakeDeps, batch: BatchRecord, report: string, log: Logger): Promise<IntakeResult> {
  const original = batch.reportBlob ? await deps.blobs.readText(RESULTS_CONTAINER, batch.reportBlob) : undefined;
  if (report !== batch.reportBlob || original === undefined) {
    const text =
      original ??
      (batch.fileRejection ? ResultReportWriter.fileRejected(batch.fileRejection.code, batch.fileRejection.message) : undefined);
    if (text !== undefined) await deps.blobs.writeText(RESULTS_CONTAINER, report, text, 'text/csv; charset=utf-8');
  }
  log.info({ event: EVENTS.batchDuplicate, firstFile: batch.fileName }, 'same content as an earlier file; not imported again');
  return { batchId: batch.batchId, status: 'duplicate', counts: batch.counts, reportBlob: report };
}
