import type { BatchRecord } from '../../domain/batch.js';
import { RESULTS_CONTAINER } from '../../domain/blob-layout.js';
import { ResultReportWriter } from '../../domain/result-report.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import { redriveMessage, redriveQueue } from '../../messages/index.js';
import type { Versioned } from '../ports.js';
import { MAX_CONFLICT_RETRIES, type IntakeDeps, type IntakeResult } from './deps.js';

/** The batch record of a file, and the outcomes that finish it without recording rows. */

export const REPORT_CONTENT_TYPE = 'text/csv; charset=utf-8';

export async function createBatch(deps: IntakeDeps, batch: BatchRecord): Promise<Versioned<BatchRecord>> {
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

export async function saveBatch(deps: IntakeDeps, batch: BatchRecord): Promise<void> {
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

export async function finishRejected(
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
    REPORT_CONTENT_TYPE,
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
 * The same content again from the same supplier (another name, or a redelivered trigger):
 * nothing is imported again; the supplier still gets a report under the new file's name, and
 * the file's stalled devices are re-driven. The re-drive asks Autopilot about devices stalled on their import, so
 * it is queued (one `redrive` message per upload) rather than done here.
 */
export async function replayFinishedBatch(
  deps: IntakeDeps,
  batch: BatchRecord,
  report: string,
  upload: { readonly blobName: string; readonly etag: string },
  correlationId: string,
  log: Logger,
): Promise<IntakeResult> {
  const original = batch.reportBlob ? await deps.blobs.readText(RESULTS_CONTAINER, batch.reportBlob) : undefined;
  if (report !== batch.reportBlob || original === undefined) {
    const text =
      original ??
      (batch.fileRejection ? ResultReportWriter.fileRejected(batch.fileRejection.code, batch.fileRejection.message) : undefined);
    if (text !== undefined) await deps.blobs.writeText(RESULTS_CONTAINER, report, text, REPORT_CONTENT_TYPE);
  }
  let stalled = 0;
  if (batch.status === 'complete' || batch.status === 'settled') {
    // Only the stalled ones are read (the table service filters them): a large file's devices are not.
    for await (const _device of deps.devices.matching([{ state: 'stalled', batchId: batch.batchId }])) stalled++;
    if (stalled > 0) await deps.queue.send(redriveQueue, [redriveMessage(batch.batchId, upload, correlationId)]);
  }
  log.info(
    { event: EVENTS.batchDuplicate, firstFile: batch.fileName, stalled },
    stalled > 0
      ? `same content as an earlier file; not imported again, its ${stalled} stalled devices queued for a re-drive`
      : 'same content as an earlier file; not imported again',
  );
  return { batchId: batch.batchId, status: 'duplicate', counts: batch.counts, reportBlob: report };
}
