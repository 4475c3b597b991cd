import type { BatchRecord } from '../domain/batch.js';
import type { Clock } from '../domain/clock.js';
import { serialKey, type DeviceRecord } from '../domain/device.js';
import type { DeviceState } from '../domain/lifecycle.js';
import { isPastDeadline } from '../domain/waiting.js';
import { ConcurrencyConflictError, EntityExistsError } from '../errors.js';
import { EVENTS } from '../events.js';
import type { Logger } from '../log.js';
import { openRequest } from '../domain/reprovision.js';
import {
  importChunkQueue,
  QUEUES,
  reprovisionMessage,
  reprovisionQueue,
  requeueMessage,
  TICK_NAMES,
  type ImportChunkMessage,
  type QueueName,
} from '../messages/index.js';
import {
  RETRIES_EXHAUSTED,
  type BatchStore,
  type DeadLetterCursorStore,
  type DeadLetteredMessage,
  type DeviceStore,
  type IdempotencyStore,
  type IntakeFailureFeed,
  type IntakeFailureStore,
  type MessageQueue,
  type PoisonStore,
  type StateClause,
} from './ports.js';
import { ensureTick, type TickDeps, type TickName } from './pipeline/ticks.js';
import { settleBatches, type SettleDeps } from './settle.js';
import { redriveStuckBatches, surfaceIntakeFailures, type IntakeWatchPolicy } from './sweep-intake.js';
import { pollWaitedOn, WATCHED } from './pipeline/watched.js';

/**
 * The sweeper (a timer): the safety net under the message-driven pipeline. Each run
 * - revives a poll chain that was lost (its scheduled message dead-lettered or never sent)
 *   while devices still wait on it;
 * - re-queues `received` devices that no import message picked up;
 * - sends again the message of an accepted re-provisioning request that no worker started
 *   (the webhook stopped between recording the request and queueing it);
 * - settles the files whose accepted devices all have an Autopilot outcome: their report is
 *   rewritten with each device's outcome, the batch becomes `settled` (see settle.ts);
 * - surfaces dead-lettered messages: one `deadletter.found` event each, once; the messages
 *   stay where they are for operators;
 * - watches the intake (see sweep-intake.ts): files stuck `processing` (`batch.stuck`) and files
 *   their trigger gave up on (`intake.poisoned`) have their intake run again;
 * - logs one `sweeper.run` summary.
 * Everything is idempotent: poll leases are ETag-guarded, re-queued work carries
 * deterministic message ids, and the dead-letter cursor only moves with its ETag.
 */

export interface SweeperPolicy extends IntakeWatchPolicy {
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

export interface SweeperDeps {
  readonly devices: Pick<DeviceStore, 'matching'>;
  readonly batches: Pick<BatchStore, 'get' | 'withStatus' | 'save'>;
  readonly queue: Pick<MessageQueue, 'send' | 'peekDeadLetters'>;
  readonly ticks: TickDeps;
  readonly cursors: DeadLetterCursorStore;
  /** Messages the handlers set aside (unreadable, or out of transient retries): counted, like dead letters, for operators. */
  readonly poison: Pick<PoisonStore, 'list'>;
  /** Where the intake's trigger records the files it gave up on, and where they are kept once taken; without it none are read. */
  readonly intakeFailures?: { readonly feed: IntakeFailureFeed; readonly store: IntakeFailureStore };
  /** The webhook's idempotency records: each run removes those past their 24 hours. */
  readonly idempotency?: Pick<IdempotencyStore, 'purgeExpired'>;
  readonly log: Logger;
  readonly now: Clock;
  readonly policy: SweeperPolicy;
  /** What settling a file needs; without it (tests about other steps) no file is settled. */
  readonly settle?: SettleDeps;
  /** The queues whose dead letters are surfaced; every queue of the app unless a test says otherwise. */
  readonly queues?: readonly QueueName[];
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
  /** Accepted re-provisioning requests whose message was sent again. */
  readonly reprovisionResent: number;
  /** Old `received` devices left alone because their file is still being recorded. */
  readonly requeueDeferred: number;
  readonly deadLetters: Readonly<Record<string, DeadLetterCount>>;
  readonly newDeadLetters: number;
  /** Messages set aside as unreadable (`message.poisoned`), by queue; they stay until an operator removes them. */
  readonly poisoned: Readonly<Record<string, number>>;
  /** Work set aside after its last transient retry (`message.retries-exhausted`), by queue; kept like the poisoned. */
  readonly givenUp: Readonly<Record<string, number>>;
  /** Idempotency records removed after their 24 hours. */
  readonly expiredKeys: number;
  /** Files `processing` past their deadline, and those whose intake this run queued again. */
  readonly stuckBatches: number;
  readonly intakeRedriven: number;
  /** Files the intake's trigger gave up on: taken and reported by this run, and recorded in all. */
  readonly intakeFailures: { readonly new: number; readonly recorded: number };
  /** Files this run settled, and those still waiting for an Autopilot outcome. */
  readonly settledBatches: number;
  readonly openBatches: number;
  readonly failedSteps: readonly string[];
}

/**
 * Devices the sweeper looks at: those not yet picked up, those a poll watches, and every
 * stalled one (counted for operations; a stalled device waits for a re-drive, and only those
 * a poll still watches revive it).
 */
const SCANNED: readonly StateClause[] = [
  { state: 'received' },
  ...WATCHED.imports,
  ...WATCHED.autopilot,
  ...WATCHED.reprovision,
  { state: 'stalled' },
];

interface Scan {
  readonly waiting: Partial<Record<DeviceState, number>>;
  readonly stalled: number;
  readonly overdue: number;
  readonly polls: ReadonlySet<TickName>;
  readonly oldReceived: readonly ReceivedDevice[];
  /** Requests accepted long enough ago that their worker should have started them. */
  readonly unstarted: readonly { readonly serialNumber: string; readonly requestId: string }[];
}

/** Only what a re-queue needs: a large backlog must not hold every hardware hash in memory. */
type ReceivedDevice = Pick<DeviceRecord, 'serialNumber' | 'generation' | 'batchId' | 'updatedAt'>;

async function scanDevices(deps: SweeperDeps): Promise<Scan> {
  const now = deps.now();
  const waiting: Partial<Record<DeviceState, number>> = {};
  const polls = new Set<TickName>();
  const oldReceived: ReceivedDevice[] = [];
  const unstarted: { serialNumber: string; requestId: string }[] = [];
  let stalled = 0;
  let overdue = 0;
  for await (const { value: device } of deps.devices.matching(SCANNED)) {
    const poll = pollWaitedOn(device);
    if (poll) polls.add(poll);
    const request = openRequest(device);
    if (
      device.state === 'reprovisioning' &&
      request &&
      (request.stage === 'accepted' || request.stage === 'sending') &&
      !(now.getTime() - Date.parse(device.updatedAt) < deps.policy.requeueAfterMs)
    ) {
      unstarted.push({ serialNumber: device.serialNumber, requestId: request.requestId });
    }
    if (device.state !== 'received' && device.state !== 'stalled' && device.state !== 'reprovisioning' && poll === undefined) continue;
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
  return { waiting, stalled, overdue, polls, oldReceived, unstarted };
}

/** The same message id as the webhook's: a message still queued absorbs the copy. */
async function resendUnstarted(deps: SweeperDeps, requests: Scan['unstarted'], correlationId: string): Promise<number> {
  await deps.queue.send(
    reprovisionQueue,
    requests.map((request) => reprovisionMessage(request, correlationId)),
  );
  for (const request of requests) {
    deps.log.info(
      { event: EVENTS.sweeperReprovisionResent, correlationId, serial: request.serialNumber, requestId: request.requestId },
      `re-provisioning request ${request.requestId} sent again: no worker had started it`,
    );
  }
  return requests.length;
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

  const messages: ImportChunkMessage[] = [];
  for (let i = 0; i < chosen.length; i += deps.policy.importChunkSize) {
    messages.push(requeueMessage(chosen.slice(i, i + deps.policy.importChunkSize), correlationId));
  }
  await deps.queue.send(importChunkQueue, messages);
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

async function surfaceDeadLetters(deps: SweeperDeps, queue: QueueName, correlationId: string): Promise<DeadLetterCount> {
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

async function countSetAside(deps: SweeperDeps): Promise<{ poisoned: Record<string, number>; givenUp: Record<string, number> }> {
  const poisoned: Record<string, number> = {};
  const givenUp: Record<string, number> = {};
  for await (const record of deps.poison.list()) {
    const byQueue = record.reason === RETRIES_EXHAUSTED ? givenUp : poisoned;
    byQueue[record.queue] = (byQueue[record.queue] ?? 0) + 1;
  }
  return { poisoned, givenUp };
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
  const ticks: Record<TickName, TickOutcome> = { imports: 'idle', autopilot: 'idle', reprovision: 'idle' };
  let requeue = { requeued: 0, deferred: 0 };
  let reprovisionResent = 0;
  if (scan) {
    if (scan.unstarted.length > 0)
      reprovisionResent = await step('resend-reprovision', () => resendUnstarted(deps, scan.unstarted, correlationId), 0);
    for (const tick of TICK_NAMES) {
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

  const stuck = await step('stuck-batches', () => redriveStuckBatches(deps, correlationId), { stuck: 0, redriven: 0 });
  const failureSources = deps.intakeFailures;
  const intakeFailures = failureSources
    ? await step('intake-failures', () => surfaceIntakeFailures({ ...deps, ...failureSources }, correlationId), { new: 0, recorded: 0 })
    : { new: 0, recorded: 0 };

  const settle = deps.settle;
  const settled = settle ? await step('settle-batches', () => settleBatches(settle, correlationId), { settled: 0, open: 0 }) : undefined;

  const revivedTicks = Object.values(ticks).filter((outcome) => outcome === 'revived').length;
  const newDeadLetters = Object.values(deadLetters).reduce((sum, count) => sum + count.new, 0);
  const { poisoned, givenUp } = await step('poison', () => countSetAside(deps), { poisoned: {}, givenUp: {} });
  const idempotency = deps.idempotency;
  const expiredKeys = idempotency ? await step('expire-idempotency-keys', () => idempotency.purgeExpired(deps.now()), 0) : 0;
  const summary: SweepSummary = {
    waiting: scan?.waiting ?? {},
    stalled: scan?.stalled ?? 0,
    overdue: scan?.overdue ?? 0,
    ticks,
    revivedTicks,
    requeued: requeue.requeued,
    reprovisionResent,
    requeueDeferred: requeue.deferred,
    deadLetters,
    newDeadLetters,
    poisoned,
    givenUp,
    expiredKeys,
    stuckBatches: stuck.stuck,
    intakeRedriven: stuck.redriven,
    intakeFailures,
    settledBatches: settled?.settled ?? 0,
    openBatches: settled?.open ?? 0,
    failedSteps,
  };
  // A run that changed or found nothing is routine: kept out of the info stream.
  const eventful =
    revivedTicks > 0 ||
    summary.settledBatches > 0 ||
    requeue.requeued > 0 ||
    reprovisionResent > 0 ||
    newDeadLetters > 0 ||
    stuck.stuck > 0 ||
    intakeFailures.new > 0 ||
    failedSteps.length > 0;
  deps.log[eventful ? 'info' : 'debug'](
    { event: EVENTS.sweeperRun, correlationId, ...summary },
    `sweep: ${revivedTicks} polls revived, ${requeue.requeued} devices re-queued, ${newDeadLetters} new dead letters, ${summary.stalled} stalled`,
  );
  return summary;
}
