import { backoffMs } from '../../domain/waiting.js';
import { EVENTS } from '../../events.js';
import type { IngestPayload } from '../../messages/index.js';
import { ingestHashFile, type IntakeDeps } from '../intake/index.js';
import type { PipelineDeps } from './context.js';
import { DONE, type WorkResult } from './work.js';

/**
 * A supplier file's intake run again for the sweeper (see messages/ingest.ts). The intake is
 * idempotent: rows already recorded are recognised, chunks already queued carry the same
 * ids, and a file already finished is answered as a duplicate. A failure (storage unreachable)
 * backs off and retries like any other work, and is set aside after the last retry.
 */

export interface ReingestDeps extends Pick<PipelineDeps, 'retry' | 'log' | 'now'> {
  /** The intake's own dependencies; the runtime always provides them. */
  readonly intake?: IntakeDeps;
}

export async function reingest(deps: ReingestDeps, payload: IngestPayload, correlationId: string, attempt: number): Promise<WorkResult> {
  if (!deps.intake) throw new Error('ingest messages need the intake: this dispatcher was built without it');
  const log = deps.log.child({ correlationId, blobName: payload.blobName, cause: payload.cause });
  let result;
  try {
    result = await ingestHashFile(deps.intake, payload.blobName, correlationId);
  } catch (error) {
    const delay = backoffMs(attempt, deps.retry.firstRetryMs, deps.retry.maxRetryMs);
    return {
      kind: 'retry',
      at: new Date(deps.now().getTime() + delay),
      reason: 'transient',
      detail: `intake of ${payload.blobName}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  // The blob changed or went since the batch was stuck: this run cannot finish that batch.
  const finished = payload.batchId === undefined || result.batchId === payload.batchId;
  log[finished ? 'info' : 'warn'](
    {
      event: EVENTS.intakeRerun,
      batchId: result.batchId ?? null,
      stuckBatchId: payload.batchId ?? null,
      status: result.status,
      finished,
    },
    finished
      ? `intake of ${payload.blobName} run again (${payload.cause}): ${result.status}`
      : `intake of ${payload.blobName} run again (${payload.cause}), but the blob no longer holds batch ${payload.batchId ?? ''}`,
  );
  return DONE;
}
