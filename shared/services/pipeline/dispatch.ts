import { createHash } from 'node:crypto';
import { parseEnvelope } from '../../adapters/bus/work-queue.js';
import { EVENTS } from '../../events.js';
import type { QueueName } from '../../adapters/bus/queues.js';
import type { ImportChunkPayload, RetagPayload } from '../intake.js';
import type { PipelineDeps } from './context.js';
import { importChunk } from './import-chunk.js';
import { pollAutopilot } from './poll-autopilot.js';
import { pollImports } from './poll-imports.js';
import { retag } from './retag.js';
import { beginTickRun, endTickRun, ensureTick, type TickPayload } from './ticks.js';
import { DONE, RetriesExhaustedError, type PipelineEnvelope, type WorkResult } from './work.js';

async function run(deps: PipelineDeps, envelope: PipelineEnvelope, attempt: number): Promise<WorkResult> {
  switch (envelope.kind) {
    case 'import-chunk':
      return importChunk(deps, envelope.payload as ImportChunkPayload, envelope.correlationId, attempt);
    case 'retag':
      return retag(deps, envelope.payload as RetagPayload, envelope.correlationId, attempt);
    case 'tick': {
      // A poll's failures back off with its idle count; its messages carry no attempt.
      const tick = envelope.payload as TickPayload;
      if (!(await beginTickRun(deps.ticks, tick))) return DONE;
      let result: WorkResult;
      try {
        result =
          tick.tick === 'imports'
            ? await pollImports(deps, tick, envelope.correlationId, tick.idle)
            : await pollAutopilot(deps, tick, envelope.correlationId, tick.idle);
      } finally {
        // A run asked for while this one ran comes soon after it, as the same chain.
        if (await endTickRun(deps.ticks, tick)) {
          const soon = tick.tick === 'imports' ? deps.waits.importPollMs : deps.waits.firstPollMs;
          await ensureTick(deps.ticks, tick.tick, new Date(deps.now().getTime() + soon), {
            replacing: tick.at,
            correlationId: envelope.correlationId,
          });
        }
      }
      return result;
    }
  }
}

/**
 * Runs one pipeline message and settles its outcome: a retry becomes a scheduled copy with
 * a derived message id (so a redelivered original cannot schedule it twice), and the
 * original completes normally. Past the retry limit the error is thrown, leaving the rest
 * to the queue's max delivery count and dead-letter queue.
 */
export async function handlePipelineMessage(deps: PipelineDeps, queue: QueueName, body: unknown, messageId: string): Promise<WorkResult> {
  const envelope = parseEnvelope(body) as PipelineEnvelope;
  const attempt = envelope.attempt ?? 0;
  const result = await run(deps, envelope, attempt);
  if (result.kind === 'done') return result;
  if (envelope.kind === 'tick') {
    // A poll is never given up: it runs again when Graph allows, as the same single chain.
    const tick = envelope.payload as TickPayload;
    await ensureTick(deps.ticks, tick.tick, result.at, { idle: tick.idle + 1, replacing: tick.at, correlationId: envelope.correlationId });
    deps.log.info(
      {
        event: EVENTS.messageRescheduled,
        kind: envelope.kind,
        tick: tick.tick,
        correlationId: envelope.correlationId,
        reason: result.reason,
        at: result.at.toISOString(),
        detail: result.detail,
      },
      `${tick.tick} poll rescheduled (${result.reason})`,
    );
    return result;
  }
  // Throttling is bounded by the devices' deadlines, not by a count; transient faults are.
  if (result.reason === 'transient' && attempt + 1 > deps.retry.maxTransientRetries)
    throw new RetriesExhaustedError(envelope.kind, attempt, result.detail);
  // The copy's id derives from the original's, so a redelivered original schedules the same copy.
  const baseId = messageId.replace(/([#@][0-9a-f]+)+$/, '');
  const next = result.reason === 'transient' ? attempt + 1 : attempt;
  const copyId =
    result.reason === 'transient'
      ? `${baseId}#${next}`
      : `${baseId}#${attempt}@${createHash('sha256').update(messageId).digest('hex').slice(0, 12)}`;
  await deps.queue.schedule(
    queue,
    [
      {
        kind: envelope.kind,
        correlationId: envelope.correlationId,
        messageId: copyId,
        payload: result.payload ?? envelope.payload,
        attempt: next,
      },
    ],
    result.at,
  );
  deps.log.info(
    {
      event: EVENTS.messageRescheduled,
      kind: envelope.kind,
      correlationId: envelope.correlationId,
      reason: result.reason,
      attempt: next,
      at: result.at.toISOString(),
      detail: result.detail,
    },
    `${envelope.kind} rescheduled (${result.reason})`,
  );
  return result;
}
