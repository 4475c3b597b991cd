import { parseIntakePath } from '../domain/blob-layout.js';
import type { Clock } from '../domain/clock.js';
import { ConcurrencyConflictError } from '../errors.js';
import { EVENTS } from '../events.js';
import type { Logger } from '../log.js';
import { ingestMessage, ingestQueue, type IngestCause } from '../messages/index.js';
import type { BatchStore, IntakeFailure, IntakeFailureFeed, IntakeFailureSource, IntakeFailureStore, MessageQueue } from './ports.js';

/**
 * The sweeper's watch over the intake, for the files that never got a report:
 * - a batch still `processing` past its deadline (the intake stopped half way: the instance
 *   died, storage failed until the trigger gave up) is reported (`batch.stuck`) and its intake
 *   queued to run again, a few times at most, each with a fresh deadline;
 * - a file the trigger gave up on — on the blob trigger's poison queue, or dead-lettered by Event
 *   Grid — is reported once (`intake.poisoned`, with the blob name), recorded for operators,
 *   taken off its source, and its intake queued to run again.
 * Running the intake again is safe: it is idempotent. What it then fails on is retried with
 * backoff and set aside after the last retry, so nothing here loops.
 */

export interface IntakeWatchPolicy {
  /** A batch `processing` this long (real ms) since it arrived or was last re-driven is stuck. */
  readonly intakeStuckMs: number;
  /** Re-drives of one stuck batch; after these it is only reported, each run, for operators. */
  readonly maxIntakeRedrives: number;
  /** Failures taken from their sources per run; the rest wait for the next. */
  readonly maxIntakeFailuresPerRun: number;
}

export interface IntakeWatchDeps {
  readonly batches: Pick<BatchStore, 'withStatus' | 'save'>;
  readonly queue: Pick<MessageQueue, 'send'>;
  readonly log: Logger;
  readonly now: Clock;
  readonly policy: IntakeWatchPolicy;
}

export interface IntakeFailureDeps extends Omit<IntakeWatchDeps, 'batches'> {
  readonly feed: IntakeFailureFeed;
  readonly store: IntakeFailureStore;
}

export interface StuckSummary {
  /** Batches `processing` past their deadline. */
  readonly stuck: number;
  /** Of those, the ones whose intake this run queued again. */
  readonly redriven: number;
}

export async function redriveStuckBatches(deps: IntakeWatchDeps, correlationId: string): Promise<StuckSummary> {
  const now = deps.now();
  let stuck = 0;
  let redriven = 0;
  for await (const found of deps.batches.withStatus('processing')) {
    const batch = found.value;
    // An unreadable time counts as old: better one harmless re-run than a file left without a report.
    if (now.getTime() - Date.parse(batch.redrivenAt ?? batch.receivedAt) < deps.policy.intakeStuckMs) continue;
    stuck++;
    const redrives = batch.intakeRedrives ?? 0;
    const again = redrives < deps.policy.maxIntakeRedrives;
    if (again) {
      try {
        await deps.batches.save({ ...batch, intakeRedrives: redrives + 1, redrivenAt: now.toISOString() }, found.etag);
      } catch (error) {
        // The intake finished it meanwhile, or another sweep re-drove it first.
        if (error instanceof ConcurrencyConflictError) continue;
        throw error;
      }
      const payload = { blobName: batch.blobName, cause: 'stuck' as const, batchId: batch.batchId };
      await deps.queue.send(ingestQueue, [ingestMessage(payload, `${batch.batchId}:${redrives + 1}`, correlationId)]);
      redriven++;
    }
    deps.log.warn(
      {
        event: EVENTS.batchStuck,
        correlationId,
        batchId: batch.batchId,
        supplier: batch.supplierId,
        blobName: batch.blobName,
        receivedAt: batch.receivedAt,
        redrives: again ? redrives + 1 : redrives,
        redriven: again,
      },
      again
        ? `file ${batch.blobName} still processing since ${batch.receivedAt}: its intake runs again (${redrives + 1} of ${deps.policy.maxIntakeRedrives})`
        : `file ${batch.blobName} still processing since ${batch.receivedAt} after ${redrives} re-runs: needs an operator`,
    );
  }
  return { stuck, redriven };
}

const CAUSES: Readonly<Record<IntakeFailureSource, IngestCause>> = {
  'blob-trigger-poison': 'poisoned',
  'event-grid-dead-letter': 'dead-lettered',
};

export interface IntakeFailureSummary {
  /** Failures this run took from their sources and reported. */
  readonly new: number;
  /** Every failure recorded so far. */
  readonly recorded: number;
}

export async function surfaceIntakeFailures(deps: IntakeFailureDeps, correlationId: string): Promise<IntakeFailureSummary> {
  const failures = await deps.feed.take(deps.policy.maxIntakeFailuresPerRun);
  const byReceipt = new Map<string, IntakeFailure[]>();
  for (const failure of failures) byReceipt.set(failure.receipt, [...(byReceipt.get(failure.receipt) ?? []), failure]);
  let reported = 0;
  for (const [receipt, group] of byReceipt) {
    for (const failure of group) if (await surfaceOne(deps, failure, correlationId)) reported++;
    // Only once all it holds is recorded and queued: a run that stops before finds it again.
    await deps.feed.remove(receipt);
  }
  return { new: reported, recorded: await deps.store.count() };
}

/** True when this run is the first to report it; queued again either way (the message id absorbs a copy). */
async function surfaceOne(deps: IntakeFailureDeps, failure: IntakeFailure, correlationId: string): Promise<boolean> {
  const { receipt: _receipt, ...record } = failure;
  const first = await deps.store.record(record, deps.now());
  const cause = CAUSES[failure.source];
  const payload = { blobName: failure.blobName, cause };
  await deps.queue.send(ingestQueue, [ingestMessage(payload, `${failure.source}:${failure.etag ?? ''}`, correlationId)]);
  if (first) {
    deps.log.warn(
      {
        event: EVENTS.intakePoisoned,
        correlationId,
        source: failure.source,
        blobName: failure.blobName,
        supplier: parseIntakePath(failure.blobName)?.supplierId ?? null,
        etag: failure.etag ?? null,
        reason: failure.reason,
        attempts: failure.attempts ?? null,
        failedAt: failure.failedAt ?? null,
      },
      `intake of ${failure.blobName} gave up (${failure.source}): ${failure.reason}; it runs again`,
    );
  }
  return first;
}
