import { createHash } from 'node:crypto';
import { QUEUES } from '../adapters/bus/queues.js';
import type { DeadLetteredMessage, OutgoingMessage, WorkQueue } from '../adapters/bus/work-queue.js';
import type { BatchRecord, BatchRepository } from '../adapters/tables/batch-repository.js';
import type { DeviceRepository, StateClause } from '../adapters/tables/device-repository.js';
import type { EntityProps, TableStore } from '../adapters/tables/table-store.js';
import { scaled, type AppConfig } from '../config.js';
import { serialKey, type DeviceRecord } from '../domain/device.js';
import type { DeviceState } from '../domain/lifecycle.js';
import { isPastDeadline } from '../domain/waiting.js';
import { ConcurrencyConflictError, EntityExistsError } from '../errors.js';
import { EVENTS } from '../events.js';
import type { Logger } from '../log.js';
import type { ImportChunkPayload } from './intake.js';
import { ensureTick, type TickDeps, type TickName } from './pipeline/ticks.js';
import { pollWaitedOn, WATCHED } from './pipeline/watched.js';

/**
 * The sweeper (a timer): the safety net under the message-driven pipeline. Each run
 * - revives a poll chain that was lost (its scheduled message dead-lettered or never sent)
 *   while devices still wait on it;
 * - re-queues `received` devices that no import message picked up;
 * - surfaces dead-lettered messages: one `deadletter.found` event each, once; the messages
 *   stay where they are for operators;
 * - logs one `sweeper.run` summary.
 * Everything is idempotent: poll leases are ETag-guarded, re-queued work carries
 * deterministic message ids, and the dead-letter cursor only moves with its ETag.
 */

export const SWEEPER_TABLE = 'sweeper';
const CURSOR_PARTITION = 'deadletter-cursor';

const MINUTE = 60_000;
/** Queue delivery and handler time are real, whatever the time scale: never wait less than this. */
const MIN_REAL_WAIT_MS = MINUTE;

export interface SweeperPolicy {
  /** A `received` device this long unchanged has lost its import message (real ms). */
  readonly requeueAfterMs: number;
  /** A batch still being recorded this recently is about to queue its own chunks (real ms). */
  readonly intakeGraceMs: number;
  /** A poll run overdue by this much was lost (real ms). */
  readonly tickOverdueMs: number;
  /** A revived poll runs this soon (real ms). */
  readonly reviveDelayMs: number;
  readonly importChunkSize: number;
  /** Re-queued devices per run, oldest first; the rest wait for the next run. */
  readonly maxRequeuePerRun: number;
  /** Dead letters reported per queue per run; the cursor resumes there next run. */
  readonly maxNewDeadLettersPerQueue: number;
  /** Dead letters counted per queue; a longer dead-letter queue is reported as "at least". */
  readonly maxDeadLettersCounted: number;
}

export function sweeperPolicy(config: Pick<AppConfig, 'timeScale' | 'pipeline' | 'intake'>): SweeperPolicy {
  return {
    requeueAfterMs: Math.max(scaled(config, 10 * config.pipeline.firstPollMs), MIN_REAL_WAIT_MS),
    intakeGraceMs: 30 * MINUTE,
    tickOverdueMs: Math.max(scaled(config, 10 * MINUTE), MIN_REAL_WAIT_MS),
    reviveDelayMs: scaled(config, config.pipeline.firstPollMs),
    importChunkSize: config.intake.importChunkSize,
    maxRequeuePerRun: 2_000,
    maxNewDeadLettersPerQueue: 500,
    maxDeadLettersCounted: 5_000,
  };
}

/** How far the dead letters of one queue have been reported. */
export interface DeadLetterCursor {
  readonly lastSequenceNumber: string | undefined;
  readonly etag: string | undefined;
}

export interface DeadLetterCursors {
  get(queue: string): Promise<DeadLetterCursor>;
  /** ConcurrencyConflictError / EntityExistsError when another run moved it first. */
  advance(queue: string, lastSequenceNumber: string, etag: string | undefined): Promise<void>;
}

type CursorRow = EntityProps & { lastSequenceNumber?: string; updatedAt?: string };

/** One small row per queue in the `sweeper` table. */
export function tableDeadLetterCursors(
  store: Pick<TableStore<CursorRow>, 'get' | 'insert' | 'update'>,
  now: () => Date,
): DeadLetterCursors {
  return {
    async get(queue) {
      const row = await store.get(CURSOR_PARTITION, queue);
      return { lastSequenceNumber: row?.value.lastSequenceNumber || undefined, etag: row?.etag };
    },
    async advance(queue, lastSequenceNumber, etag) {
      const value: CursorRow = { lastSequenceNumber, updatedAt: now().toISOString() };
      if (etag === undefined) await store.insert(CURSOR_PARTITION, queue, value);
      else await store.update(CURSOR_PARTITION, queue, value, etag);
    },
  };
}

export interface SweeperDeps {
  readonly devices: Pick<DeviceRepository, 'matching'>;
  readonly batches: Pick<BatchRepository, 'get'>;
  readonly queue: Pick<WorkQueue, 'send' | 'peekDeadLetters'>;
  readonly ticks: TickDeps;
  readonly cursors: DeadLetterCursors;
  readonly log: Logger;
  readonly now: () => Date;
  readonly policy: SweeperPolicy;
  /** The queues whose dead letters are surfaced; every queue of the app unless a test says otherwise. */
  readonly queues?: readonly string[];
}

export type TickOutcome = 'idle' | 'pending' | 'revived';

export interface DeadLetterCount {
  /** Dead letters in the queue now (at most maxDeadLettersCounted). */
  readonly present: number;
  /** True when the queue holds at least `present`. */
  readonly atLeast: boolean;
  /** Reported by this run. */
  readonly new: number;
}

export interface SweepSummary {
  /** Devices waiting, by state; `enrolled` counts only those whose new group tag is not in Autopilot yet. */
  readonly waiting: Partial<Record<DeviceState, number>>;
  readonly stalled: number;
  /** Waiting (not stalled) past their deadline: the next poll stalls them. */
  readonly overdue: number;
  readonly ticks: Readonly<Record<TickName, TickOutcome>>;
  readonly revivedTicks: number;
  readonly requeued: number;
  /** Old `received` devices left alone because their file is still being recorded. */
  readonly requeueDeferred: number;
  readonly deadLetters: Readonly<Record<string, DeadLetterCount>>;
  readonly newDeadLetters: number;
  readonly failedSteps: readonly string[];
}

/** Devices the sweeper looks at: those not yet picked up, and those a poll watches. */
const SCANNED: readonly StateClause[] = [{ state: 'received' }, ...WATCHED.imports, ...WATCHED.autopilot];

/** Same devices and generations, same id: overlapping runs and repeats within the duplicate-detection window are dropped. */
export function requeueMessageId(devices: readonly Pick<DeviceRecord, 'serialNumber' | 'generation'>[]): string {
  const members = devices.map((device) => `${serialKey(device.serialNumber)}:${device.generation}`).sort();
  return `sweep:${createHash('sha256').update(members.join('\n')).digest('hex').slice(0, 40)}`;
}

interface Scan {
  readonly waiting: Partial<Record<DeviceState, number>>;
  readonly stalled: number;
  readonly overdue: number;
  readonly polls: ReadonlySet<TickName>;
  readonly oldReceived: readonly ReceivedDevice[];
}

/** Only what a re-queue needs: a large backlog must not hold every hardware hash in memory. */
type ReceivedDevice = Pick<DeviceRecord, 'serialNumber' | 'generation' | 'batchId' | 'updatedAt'>;

async function scanDevices(deps: SweeperDeps): Promise<Scan> {
  const now = deps.now();
  const waiting: Partial<Record<DeviceState, number>> = {};
  const polls = new Set<TickName>();
  const oldReceived: ReceivedDevice[] = [];
  let stalled = 0;
  let overdue = 0;
  for await (const { value: device } of deps.devices.matching(SCANNED)) {
    const poll = pollWaitedOn(device);
    if (poll) polls.add(poll);
    if (device.state !== 'received' && device.state !== 'stalled' && poll === undefined) continue;
    waiting[device.state] = (waiting[device.state] ?? 0) + 1;
    if (device.state === 'stalled') stalled++;
    else if (device.waitingFor !== undefined && isPastDeadline(device.deadlineAt, now)) overdue++;
    // An unreadable time counts as old: better one harmless re-queue than a device left behind.
    if (device.state === 'received' && !(now.getTime() - Date.parse(device.updatedAt) < deps.policy.requeueAfterMs)) {
      oldReceived.push({
        serialNumber: device.serialNumber,
        generation: device.generation,
        batchId: device.batchId,
        updatedAt: device.updatedAt,
      });
    }
  }
  return { waiting, stalled, overdue, polls, oldReceived };
}

async function revivePoll(deps: SweeperDeps, tick: TickName, correlationId: string): Promise<TickOutcome> {
  const lease = await deps.ticks.leases.get(tick);
  const now = deps.now().getTime();
  const due = lease.scheduledFor === undefined ? Number.NaN : Date.parse(lease.scheduledFor);
  // A run due in the future, or only just due (running, or waiting for a free handler), is alive.
  if (due > now - deps.policy.tickOverdueMs) return 'pending';
  const at = new Date(now + deps.policy.reviveDelayMs);
  await ensureTick(deps.ticks, tick, at, { correlationId, ...(lease.scheduledFor === undefined ? {} : { replacing: lease.scheduledFor }) });
  // Another run may have revived it first; then this one did nothing.
  const after = await deps.ticks.leases.get(tick);
  if (after.scheduledFor !== at.toISOString()) return 'pending';
  deps.log.info(
    { event: EVENTS.sweeperTickRevived, correlationId, tick, at: at.toISOString(), lastScheduledFor: lease.scheduledFor ?? null },
    `${tick} poll revived: its last run (${lease.scheduledFor ?? 'none'}) never followed up`,
  );
  return 'revived';
}

async function requeueReceived(
  deps: SweeperDeps,
  devices: readonly ReceivedDevice[],
  correlationId: string,
): Promise<{ requeued: number; deferred: number }> {
  const now = deps.now().getTime();
  const batches = new Map<string, Promise<BatchRecord | undefined>>();
  const batchOf = (batchId: string): Promise<BatchRecord | undefined> => {
    let found = batches.get(batchId);
    if (!found) {
      found = deps.batches.get(batchId).then((batch) => batch?.value);
      batches.set(batchId, found);
    }
    return found;
  };
  const due: ReceivedDevice[] = [];
  let deferred = 0;
  for (const device of devices) {
    const batch = device.batchId ? await batchOf(device.batchId) : undefined;
    if (batch?.status === 'processing' && now - Date.parse(batch.receivedAt) < deps.policy.intakeGraceMs) deferred++;
    else due.push(device);
  }
  due.sort((a, b) => a.updatedAt.localeCompare(b.updatedAt) || serialKey(a.serialNumber).localeCompare(serialKey(b.serialNumber)));
  const chosen = due.slice(0, deps.policy.maxRequeuePerRun);

  const messages: OutgoingMessage<'import-chunk', ImportChunkPayload>[] = [];
  for (let i = 0; i < chosen.length; i += deps.policy.importChunkSize) {
    const chunk = chosen.slice(i, i + deps.policy.importChunkSize);
    const serialNumbers = chunk.map((device) => device.serialNumber);
    messages.push({
      kind: 'import-chunk',
      correlationId,
      messageId: requeueMessageId(chunk),
      payload: { batchId: 'sweeper', chunk: messages.length, serialNumbers },
    });
  }
  await deps.queue.send(QUEUES.import, messages);
  for (const message of messages) {
    deps.log.info(
      {
        event: EVENTS.sweeperRequeued,
        correlationId,
        messageId: message.messageId,
        count: message.payload.serialNumbers.length,
        serials: message.payload.serialNumbers,
      },
      `re-queued ${message.payload.serialNumbers.length} received devices that no import picked up`,
    );
  }
  return { requeued: chosen.length, deferred };
}

const after = (sequenceNumber: string, cursor: string | undefined): boolean =>
  cursor === undefined || BigInt(sequenceNumber) > BigInt(cursor);

const truncate = (text: string | undefined, max = 1024): string | undefined =>
  text !== undefined && text.length > max ? `${text.slice(0, max)}…` : text;

async function surfaceDeadLetters(deps: SweeperDeps, queue: string, correlationId: string): Promise<DeadLetterCount> {
  const { policy } = deps;
  const present = await deps.queue.peekDeadLetters(queue, { maxMessages: policy.maxDeadLettersCounted });
  const atLeast = present.length >= policy.maxDeadLettersCounted;
  for (let attempt = 0; attempt < 5; attempt++) {
    const cursor = await deps.cursors.get(queue);
    const fresh: DeadLetteredMessage[] = atLeast
      ? await deps.queue.peekDeadLetters(queue, {
          maxMessages: policy.maxNewDeadLettersPerQueue,
          ...(cursor.lastSequenceNumber === undefined ? {} : { afterSequenceNumber: cursor.lastSequenceNumber }),
        })
      : present.filter((message) => after(message.sequenceNumber, cursor.lastSequenceNumber)).slice(0, policy.maxNewDeadLettersPerQueue);
    const last = fresh.at(-1);
    if (last === undefined) return { present: present.length, atLeast, new: 0 };
    try {
      // Claimed before reporting: of two overlapping runs, only the one that moved the cursor reports.
      await deps.cursors.advance(queue, last.sequenceNumber, cursor.etag);
    } catch (error) {
      if (error instanceof ConcurrencyConflictError || error instanceof EntityExistsError) continue;
      throw error;
    }
    for (const message of fresh) {
      deps.log.warn(
        {
          event: EVENTS.deadLetterFound,
          correlationId: message.correlationId ?? null,
          sweepCorrelationId: correlationId,
          queue,
          sequenceNumber: message.sequenceNumber,
          messageId: message.messageId ?? null,
          kind: message.kind ?? null,
          deadLetterReason: message.deadLetterReason ?? null,
          deadLetterErrorDescription: truncate(message.deadLetterErrorDescription) ?? null,
          enqueuedTime: message.enqueuedTime ?? null,
          deliveryCount: message.deliveryCount ?? null,
        },
        `dead-lettered ${message.kind ?? 'message'} on ${queue}: ${message.deadLetterReason ?? 'no reason given'}`,
      );
    }
    return { present: present.length, atLeast, new: fresh.length };
  }
  throw new Error(`the dead-letter cursor of ${queue} kept changing`);
}

/** One sweep. Steps fail independently: each failure is logged and named in the summary. */
export async function sweep(deps: SweeperDeps, correlationId: string): Promise<SweepSummary> {
  const failedSteps: string[] = [];
  async function step<T>(name: string, run: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await run();
    } catch (error) {
      failedSteps.push(name);
      deps.log.warn(
        { event: EVENTS.sweeperStepFailed, correlationId, step: name, err: error },
        `sweeper step ${name} failed; the next run tries again`,
      );
      return fallback;
    }
  }

  const scan = await step<Scan | undefined>('scan-devices', () => scanDevices(deps), undefined);
  const ticks: Record<TickName, TickOutcome> = { imports: 'idle', autopilot: 'idle' };
  let requeue = { requeued: 0, deferred: 0 };
  if (scan) {
    for (const tick of ['imports', 'autopilot'] as const) {
      if (scan.polls.has(tick)) ticks[tick] = await step(`revive-${tick}`, () => revivePoll(deps, tick, correlationId), 'pending');
    }
    if (scan.oldReceived.length > 0)
      requeue = await step('requeue-received', () => requeueReceived(deps, scan.oldReceived, correlationId), requeue);
  }

  const deadLetters: Record<string, DeadLetterCount> = {};
  for (const queue of deps.queues ?? Object.values(QUEUES)) {
    const counted = await step(`dead-letters:${queue}`, () => surfaceDeadLetters(deps, queue, correlationId), undefined);
    if (counted) deadLetters[queue] = counted;
  }

  const revivedTicks = Object.values(ticks).filter((outcome) => outcome === 'revived').length;
  const newDeadLetters = Object.values(deadLetters).reduce((sum, count) => sum + count.new, 0);
  const summary: SweepSummary = {
    waiting: scan?.waiting ?? {},
    stalled: scan?.stalled ?? 0,
    overdue: scan?.overdue ?? 0,
    ticks,
    revivedTicks,
    requeued: requeue.requeued,
    requeueDeferred: requeue.deferred,
    deadLetters,
    newDeadLetters,
    failedSteps,
  };
  // A run that changed or found nothing is routine: kept out of the info stream.
  const eventful = revivedTicks > 0 || requeue.requeued > 0 || newDeadLetters > 0 || failedSteps.length > 0;
  deps.log[eventful ? 'info' : 'debug'](
    { event: EVENTS.sweeperRun, correlationId, ...summary },
    `sweep: ${revivedTicks} polls revived, ${requeue.requeued} devices re-queued, ${newDeadLetters} new dead letters, ${summary.stalled} stalled`,
  );
  return summary;
}
