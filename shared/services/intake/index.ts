import { INTAKE_CONTAINER, parseIntakePath, reportBlobName, RESULTS_CONTAINER } from '../../domain/blob-layout.js';
import { batchIdOf, type BatchRecord } from '../../domain/batch.js';
import { validateHashFile } from '../../domain/hash-file/index.js';
import { ResultReportWriter } from '../../domain/result-report.js';
import { findSupplier } from '../../domain/suppliers.js';
import { EVENTS } from '../../events.js';
import { retagMessage, retagQueue } from '../../messages/index.js';
import { createBatch, finishRejected, replayFinishedBatch, REPORT_CONTENT_TYPE, saveBatch } from './batch-record.js';
import type { IntakeDeps, IntakeResult } from './deps.js';
import { firstPass } from './first-pass.js';
import { recordRows } from './record-rows.js';

/**
 * Supplier intake: one uploaded hash file -> a batch record, a device record (and history
 * event) per row with a usable serial, import work queued in chunks, and the supplier's
 * result report. Safe to run any number of times for the same blob: the batch is keyed by
 * supplier and content hash, device writes are guarded, and queued chunks carry deterministic
 * message ids.
 */

export type { IntakeDeps, IntakeResult } from './deps.js';

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
      REPORT_CONTENT_TYPE,
    );
    log.warn({ event: EVENTS.batchRejected, supplier: supplierId, reason: 'unknown-supplier' }, 'file rejected: unknown supplier');
    return { batchId: undefined, status: 'rejected', counts: {}, reportBlob: report };
  }

  const open = (): Promise<AsyncIterable<Uint8Array>> => deps.blobs.openRead(INTAKE_CONTAINER, blobName, info.etag);
  const options = { supplier, maxBytes: deps.limits.maxFileBytes, maxRows: deps.limits.maxRows };
  const { contentSha256, outcome: verdict } = await firstPass(open, options);
  const batchId = batchIdOf(supplier.id, contentSha256);
  const batchLog = log.child({ batchId, supplier: supplier.id });

  const existing = await deps.batches.get(batchId);
  if (existing && existing.value.status !== 'processing') {
    return replayFinishedBatch(deps, existing.value, report, { blobName, etag: info.etag }, correlationId, batchLog);
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

  const ctx = { deps, batch: started.value, correlationId, log: batchLog };
  const recorded = await recordRows(ctx, validateHashFile(await open(), options), deps.concurrency ?? 16);
  await deps.queue.send(
    retagQueue,
    recorded.retags.map((payload) => retagMessage(payload, correlationId)),
  );

  await deps.blobs.writeText(RESULTS_CONTAINER, report, recorded.report.toString(), REPORT_CONTENT_TYPE);
  const done: BatchRecord = {
    ...started.value,
    status: 'complete',
    completedAt: deps.now().toISOString(),
    format: recorded.file.format,
    encoding: recorded.file.encoding,
    counts: recorded.counts,
  };
  await saveBatch(deps, done);
  batchLog.info({ event: EVENTS.batchCompleted, counts: done.counts }, 'supplier file processed');
  return { batchId, status: 'complete', counts: done.counts, reportBlob: report };
}
