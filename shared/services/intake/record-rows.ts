import type { FileOutcome, ValidatedRow } from '../../domain/hash-file/index.js';
import { IntakeInconsistencyError, StorageRefusedError } from '../../errors.js';
import { EVENTS } from '../../events.js';
import { reasonText } from '../../domain/reason-codes.js';
import { reportRowFromValidatedRow, ResultReportWriter, type ReportRow } from '../../domain/result-report.js';
import { fileChunkMessage, importChunkQueue, type ImportChunkMessage, type RetagPayload } from '../../messages/index.js';
import type { MessageQueue } from '../ports.js';
import { recordRow, type RowContext, type RowOutcome } from './record-row.js';

/**
 * The devices of one file, queued for import in chunks of file order, each chunk as soon as
 * it is full: the import starts while the file is still being read, and a re-run of the same
 * file queues the same chunks under the same ids.
 */
class ChunkSender {
  private readonly serials: string[] = [];
  private sent = 0;

  constructor(
    private readonly queue: Pick<MessageQueue, 'send'>,
    private readonly batchId: string,
    private readonly chunkSize: number,
    private readonly correlationId: string,
  ) {}

  get queued(): number {
    return this.serials.length;
  }

  get chunks(): number {
    return this.sent;
  }

  add(serialNumber: string): void {
    this.serials.push(serialNumber);
  }

  /** Sends every full chunk; with `all`, the last partial one too. */
  async send(all: boolean): Promise<void> {
    const messages: ImportChunkMessage[] = [];
    const size = this.chunkSize;
    while (this.sent * size < this.serials.length && (all || (this.sent + 1) * size <= this.serials.length)) {
      messages.push(
        fileChunkMessage(this.batchId, this.sent, this.serials.slice(this.sent * size, (this.sent + 1) * size), this.correlationId),
      );
      this.sent++;
    }
    await this.queue.send(importChunkQueue, messages);
  }
}

export interface RecordedRows {
  readonly counts: Record<string, number>;
  readonly report: ResultReportWriter;
  readonly retags: readonly RetagPayload[];
  readonly file: FileOutcome;
}

function reportRow(row: ValidatedRow, outcome: RowOutcome): ReportRow {
  const base = reportRowFromValidatedRow(row);
  if (outcome.code !== undefined) return { ...base, outcome: outcome.outcome, code: outcome.code, message: outcome.message };
  if (outcome.outcome === 'accepted' || outcome.outcome === 'rejected') return base;
  return { ...base, outcome: outcome.outcome, message: [outcome.message, base.message].filter(Boolean).join(' ') };
}

/**
 * One row whose values the storage still refuses (bounded as they are, see value-limits.ts) is
 * rejected on its own with `value-too-long`; every other row of the file is recorded as usual.
 * Other failures (storage unreachable) still fail the run, which the trigger retries.
 */
async function recordIsolated(ctx: RowContext, row: ValidatedRow): Promise<RowOutcome> {
  try {
    return await recordRow(ctx, row);
  } catch (error) {
    if (!(error instanceof StorageRefusedError)) throw error;
    ctx.log.warn(
      { event: EVENTS.intakeRowRefused, serial: row.serialNumber ?? null, line: row.line, code: error.code },
      `row ${row.line} could not be stored (${error.code}); rejected on its own`,
    );
    return { outcome: 'rejected', code: 'value-too-long', message: `${reasonText('value-too-long')} (${error.code})`, indexed: false };
  }
}

/**
 * A rejected row whose device is not recorded under this file (no serial, a serial repeated,
 * a device the row leaves alone, a value the storage refused) gets an entry of its own in the
 * file's index, with the reasons its report row gives: the file's summary then lists every
 * rejected row the report does. Like a device's entry, a failed write is logged and never
 * fails the file; a re-run writes the entry again.
 */
async function indexRejectedRow(ctx: RowContext, row: ValidatedRow, outcome: RowOutcome): Promise<void> {
  const index = ctx.deps.batchIndex;
  if (index === undefined || outcome.outcome !== 'rejected' || outcome.indexed) return;
  const reasons = outcome.code !== undefined ? [outcome.code] : row.errors.map((e) => e.code);
  try {
    await index.recordRejectedRow(ctx.batch.batchId, { line: row.line, serialNumber: row.serialNumber ?? '', reasons });
  } catch (error) {
    ctx.log.warn(
      { event: EVENTS.batchIndexFailed, serial: row.serialNumber ?? null, batchId: ctx.batch.batchId, line: row.line, err: error },
      `the file's index entry of rejected row ${row.line} could not be written; the report has the row`,
    );
  }
}

async function recordAndIndex(ctx: RowContext, row: ValidatedRow): Promise<RowOutcome> {
  const outcome = await recordIsolated(ctx, row);
  await indexRejectedRow(ctx, row, outcome);
  return outcome;
}

/**
 * Records every row of the second pass. Rows are recorded a window at a time (Table Storage
 * calls overlap) but reported and chunked in file order.
 */
export async function recordRows(
  ctx: RowContext,
  validation: { readonly rows: AsyncIterable<ValidatedRow>; readonly outcome: Promise<FileOutcome> },
  windowSize: number,
): Promise<RecordedRows> {
  const { deps, batch, correlationId } = ctx;
  const report = new ResultReportWriter();
  const counts: Record<string, number> = { rows: 0, accepted: 0, rejected: 0, unchanged: 0, updated: 0 };
  const retags: RetagPayload[] = [];
  const chunks = new ChunkSender(deps.queue, batch.batchId, deps.limits.importChunkSize, correlationId);

  let window: ValidatedRow[] = [];
  const flush = async (): Promise<void> => {
    const outcomes = await Promise.all(window.map((row) => recordAndIndex(ctx, row)));
    window.forEach((row, index) => {
      const outcome = outcomes[index]!;
      counts.rows = (counts.rows ?? 0) + 1;
      counts[outcome.outcome] = (counts[outcome.outcome] ?? 0) + 1;
      report.add(reportRow(row, outcome));
      if (outcome.queue) chunks.add(outcome.queue);
      if (outcome.retag) retags.push(outcome.retag);
    });
    window = [];
    await chunks.send(false);
  };
  for await (const row of validation.rows) {
    window.push(row);
    if (window.length >= windowSize) await flush();
  }
  await flush();

  const file = await validation.outcome;
  if (file.rejected) {
    // The blob cannot change under an ETag-pinned read, so the passes agree; this guards the impossible.
    throw new IntakeInconsistencyError(`Second pass over ${batch.blobName} disagreed with the first: ${file.rejected.code}`);
  }
  await chunks.send(true);
  return { counts: { ...counts, queued: chunks.queued, chunks: chunks.chunks }, report, retags, file };
}
