import { EVENTS } from '../../events.js';
import {
  parseMessage,
  rescheduledCopy,
  type PipelineMessage,
  type Poison,
  type QueueName,
  type TickPayload,
} from '../../messages/index.js';
import { MAX_PARKED_BODY, RETRIES_EXHAUSTED, type PoisonStore } from '../ports.js';
import { importChunk } from './import-chunk.js';
import { pollAutopilot } from './poll-autopilot.js';
import { pollImports } from './poll-imports.js';
import { pollReprovision } from './poll-reprovision.js';
import { redriveUpload, type RedriveDeps } from './redrive.js';
import { reingest, type ReingestDeps } from './reingest.js';
import { carryOutRequest } from './reprovision.js';
import { retag } from './retag.js';
import { beginTickRun, endTickRun, ensureTick, keepTickRun } from './ticks.js';
import { DONE, type WorkResult } from './work.js';

export interface DispatchDeps extends RedriveDeps, ReingestDeps {
  /** Where messages that cannot be read are set aside. */
  readonly poison: PoisonStore;
}

/**
 * What became of one message: its work's result, set aside as poison, or given up: work that
 * failed transiently on its last allowed attempt, or came with an attempt past the limit.
 */
export type MessageOutcome =
  | WorkResult
  | { readonly kind: 'poison'; readonly reason: Poison['reason']; readonly description: string }
  | { readonly kind: 'given-up'; readonly reason: typeof RETRIES_EXHAUSTED; readonly description: string };

const POLLS = { imports: pollImports, autopilot: pollAutopilot, reprovision: pollReprovision } as const;

async function run(deps: DispatchDeps, envelope: PipelineMessage, attempt: number): Promise<WorkResult> {
  switch (envelope.kind) {
    case 'import-chunk':
      return importChunk(deps, envelope.payload, envelope.correlationId, attempt);
    case 'retag':
      return retag(deps, envelope.payload, envelope.correlationId, attempt);
    case 'reprovision':
      return carryOutRequest(deps, envelope.payload, envelope.correlationId, attempt);
    case 'redrive':
      return redriveUpload(deps, envelope.payload, envelope.correlationId, attempt);
    case 'ingest':
      return reingest(deps, envelope.payload, envelope.correlationId, attempt);
    case 'tick':
      return runTick(deps, envelope.payload, envelope.correlationId);
  }
}

/** One delivery of a poll's message, under the poll's run lock (ticks.ts). */
async function runTick(deps: DispatchDeps, tick: TickPayload, correlationId: string): Promise<WorkResult> {
  const log = deps.log.child({ tick: tick.tick, scheduledFor: tick.at, correlationId });
  const begun = await beginTickRun(deps.ticks, tick);
  if (begun.kind === 'stand-down') return DONE;
  if (begun.kind === 'wait') {
    // This run is already running elsewhere, or was until it died: look again once its lock
    // would have run out. A live one has ended by then (this one then stands down or runs as
    // any later run does); a dead one has freed the poll.
    await ensureTick(deps.ticks, tick.tick, begun.until, {
      idle: tick.idle,
      replacing: tick.at,
      correlationId,
      ...(tick.cleanup ? { cleanup: tick.cleanup } : {}),
    });
    log.debug(
      { event: EVENTS.pollRunDeferred, until: begun.until.toISOString() },
      `${tick.tick} poll already running: looked at again later`,
    );
    return DONE;
  }
  const startedAt = deps.now();
  log.debug({ event: EVENTS.pollRunStarted, owner: begun.owner }, `${tick.tick} poll run started`);
  const held = keepTickRun(deps.ticks, tick.tick, begun.owner, begun.written, () =>
    log.warn(
      { event: EVENTS.pollRunLockLost, owner: begun.owner },
      `${tick.tick} poll run lost its lock: another run may have started beside it`,
    ),
  );
  let result: WorkResult;
  try {
    // A poll's failures back off with its idle count; its messages carry no attempt.
    result = await POLLS[tick.tick](deps, tick, correlationId, tick.idle, held);
  } finally {
    const written = await held.stop();
    const rerun = await endTickRun(deps.ticks, tick.tick, begun.owner, written);
    log.debug(
      {
        event: EVENTS.pollRunEnded,
        owner: begun.owner,
        startedAt: startedAt.toISOString(),
        ms: deps.now().getTime() - startedAt.getTime(),
        rerun,
      },
      `${tick.tick} poll run ended`,
    );
    // A run asked for while this one ran comes soon after it, as the same chain.
    if (rerun) {
      const soon = tick.tick === 'imports' ? deps.waits.importPollMs : deps.waits.firstPollMs;
      await ensureTick(deps.ticks, tick.tick, new Date(deps.now().getTime() + soon), { replacing: tick.at, correlationId });
    }
  }
  return result;
}

/**
 * Runs one pipeline message and settles its outcome. The body is parsed against the queue's
 * message contracts first: a body that is not an envelope, a kind the queue does not carry
 * or a payload that fails its schema is poison — set aside at once with a reason that names
 * it, and completed, since no redelivery can make it readable. A retry becomes a scheduled
 * copy whose id derives from the work's (so a redelivered original cannot schedule it
 * twice), and the original completes normally.
 *
 * The retry limit is checked before the work: a message whose attempt is past
 * `maxTransientRetries` is not run, and work that fails transiently on its last allowed
 * attempt is not rescheduled; either is set aside (`retries-exhausted`, with the body, for an
 * operator) and completed. Nothing is thrown for it, so the queue never redelivers it at once:
 * every attempt that reaches Graph came after its backoff. Throttling never counts: it is
 * bounded by the devices' deadlines.
 */
export async function handlePipelineMessage(
  deps: DispatchDeps,
  queue: QueueName,
  body: unknown,
  messageId: string,
): Promise<MessageOutcome> {
  const parsed = parseMessage(queue, body);
  if (!parsed.ok) return setAside(deps, queue, messageId, parsed, body);
  const message = parsed.message;
  const attempt = message.attempt ?? 0;
  // A poll's messages carry no attempt; any other work past the limit is not run again.
  if (message.kind !== 'tick' && attempt > deps.retry.maxTransientRetries) {
    return giveUp(deps, queue, messageId, message, body, `attempt ${attempt} is past the limit; not run again`);
  }
  const result = await run(deps, message, attempt);
  if (result.kind === 'done') return result;
  if (message.kind === 'tick') {
    // A poll is never given up: it runs again when Graph allows, as the same single chain.
    const tick = message.payload;
    await ensureTick(deps.ticks, tick.tick, result.at, { idle: tick.idle + 1, replacing: tick.at, correlationId: message.correlationId });
    deps.log.info(
      {
        event: EVENTS.messageRescheduled,
        kind: message.kind,
        tick: tick.tick,
        correlationId: message.correlationId,
        reason: result.reason,
        at: result.at.toISOString(),
        detail: result.detail,
      },
      `${tick.tick} poll rescheduled (${result.reason})`,
    );
    return result;
  }
  // Throttling is bounded by the devices' deadlines, not by a count; transient faults are.
  if (result.reason === 'transient' && attempt + 1 > deps.retry.maxTransientRetries) {
    return giveUp(deps, queue, messageId, message, body, result.detail);
  }
  const copy = rescheduledCopy(message, messageId, result.reason, result.payload ?? message.payload);
  await deps.queue.schedule(queue, [copy], result.at);
  deps.log.info(
    {
      event: EVENTS.messageRescheduled,
      kind: message.kind,
      correlationId: message.correlationId,
      reason: result.reason,
      attempt: copy.attempt,
      at: result.at.toISOString(),
      detail: result.detail,
    },
    `${message.kind} rescheduled (${result.reason})`,
  );
  return result;
}

/** Work that ran out of transient retries: kept with its body for an operator, logged once, completed. */
async function giveUp(
  deps: DispatchDeps,
  queue: QueueName,
  messageId: string,
  message: PipelineMessage,
  body: unknown,
  detail: string,
): Promise<MessageOutcome> {
  const attempt = message.attempt ?? 0;
  const max = deps.retry.maxTransientRetries;
  const description = `${message.kind} given up after ${Math.min(attempt, max)} transient retries (limit ${max}): ${detail}`;
  const first = await deps.poison.park({
    queue,
    messageId,
    kind: message.kind,
    correlationId: message.correlationId,
    reason: RETRIES_EXHAUSTED,
    description,
    parkedAt: deps.now().toISOString(),
    body: bodyText(body),
  });
  if (first) {
    deps.log.error(
      {
        event: EVENTS.messageRetriesExhausted,
        queue,
        messageId,
        kind: message.kind,
        correlationId: message.correlationId,
        attempt,
        maxTransientRetries: max,
        detail,
      },
      `${message.kind} on ${queue} set aside: ${description}`,
    );
  }
  return { kind: 'given-up', reason: RETRIES_EXHAUSTED, description };
}

async function setAside(deps: DispatchDeps, queue: QueueName, messageId: string, poison: Poison, body: unknown): Promise<MessageOutcome> {
  const first = await deps.poison.park({
    queue,
    messageId,
    kind: poison.kind,
    correlationId: poison.correlationId,
    reason: poison.reason,
    description: poison.description,
    parkedAt: deps.now().toISOString(),
    body: bodyText(body),
  });
  if (first) {
    deps.log.error(
      {
        event: EVENTS.messagePoisoned,
        queue,
        messageId,
        kind: poison.kind ?? null,
        correlationId: poison.correlationId ?? null,
        reason: poison.reason,
        description: poison.description,
      },
      `message set aside on ${queue} (${poison.reason}): ${poison.description}`,
    );
  }
  return { kind: 'poison', reason: poison.reason, description: poison.description };
}

function bodyText(body: unknown): string | undefined {
  if (body === undefined) return undefined;
  let text: string;
  try {
    text = typeof body === 'string' ? body : (JSON.stringify(body) ?? String(body));
  } catch {
    text = String(body);
  }
  return text.length > MAX_PARKED_BODY ? text.slice(0, MAX_PARKED_BODY) : text;
}
