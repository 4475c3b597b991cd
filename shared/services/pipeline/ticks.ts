import { randomUUID } from 'node:crypto';
import type { Clock } from '../../domain/clock.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import { tickMessage, tickQueue, type TickName, type TickPayload } from '../../messages/index.js';
import type { MessageQueue, TickLeaseStore } from '../ports.js';

/**
 * Periodic polls that answer many devices with one Graph listing. Each poll ("tick") runs as
 * one chain of scheduled messages, however many handlers ask for it: a lease row records
 * when the next run is due, and asking for a later run than one already due is a no-op.
 */

export type { TickName, TickPayload };

export interface TickDeps {
  readonly leases: TickLeaseStore;
  readonly queue: Pick<MessageQueue, 'schedule'>;
  readonly now: Clock;
}

/**
 * Makes sure a run of `tick` happens at or before `at`. A run counts as pending only while
 * its time is still ahead: a run that is due or running may already have looked at the
 * devices, so asking again schedules another. `replacing` is the run asking for its
 * successor. The message goes out before the lease is written, so a crash in between leaves
 * an extra run (harmless: chains merge at their next request) rather than a lease that
 * points at nothing.
 */
export async function ensureTick(
  deps: TickDeps,
  tick: TickName,
  at: Date,
  options: { idle?: number; replacing?: string; correlationId: string; cleanup?: readonly string[] },
): Promise<void> {
  const payload: TickPayload = {
    tick,
    at: at.toISOString(),
    idle: options.idle ?? 0,
    ...(options.cleanup?.length ? { cleanup: [...options.cleanup] } : {}),
  };
  const send = (): Promise<void> => deps.queue.schedule(tickQueue, [tickMessage(payload, options.correlationId)], at);
  // A run asking for its successor, when this instance last saw the lease naming that run:
  // what a read would show unless someone wrote since, and then the write at its ETag fails.
  const known = deps.leases.lastKnown(tick);
  let sent = false;
  if (options.replacing !== undefined && known?.etag !== undefined && known.scheduledFor === options.replacing) {
    await send();
    sent = true;
    if (await setLease(deps, tick, at, known.etag)) return;
  }
  const lease = await deps.leases.get(tick);
  const due = lease.scheduledFor ? Date.parse(lease.scheduledFor) : undefined;
  const pendingRun = due !== undefined && lease.scheduledFor !== options.replacing && due > deps.now().getTime();
  if (pendingRun && due <= at.getTime()) return;
  if (!sent) await send();
  // Another caller moved the lease meanwhile: both runs exist and merge.
  await setLease(deps, tick, at, lease.etag);
}

/** Writes the lease at `etag`; false when another caller moved it first. */
async function setLease(deps: TickDeps, tick: TickName, at: Date, etag: string | undefined): Promise<boolean> {
  try {
    await deps.leases.set(tick, at.toISOString(), etag);
    return true;
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError) && !(error instanceof EntityExistsError)) throw error;
    return false;
  }
}

/**
 * How long a poll run's lock holds unless renewed (real ms). A run renews it every
 * RUN_RENEW_MS while it runs, so a run that died (its instance crashed) frees the poll this soon,
 * rather than only at the function timeout.
 */
export const RUN_LEASE_MS = 30_000;
export const RUN_RENEW_MS = 10_000;

/**
 * What a delivery of a poll's message does: run it (holding the lock as `owner`); stand down
 * (another run holds the lock; a rerun is asked of it); or wait: another delivery of this very
 * run holds the lock, so this message came back while that one still runs (its message lock
 * was lost: the process was too busy to renew it in time, or the renewal ran out) or after it
 * died (its run lock has not run out yet). Either way this delivery must not run beside it, and
 * must not vanish either, in case the other is dead: the run is looked at again at `until`.
 */
export type TickRun =
  | { readonly kind: 'run'; readonly owner: string; readonly written: TickLockWritten }
  | { readonly kind: 'stand-down' }
  | { readonly kind: 'wait'; readonly until: Date };

/**
 * The run lock as its run last wrote it. While no one else has written it since, the run's
 * next write (a renewal, the release) goes at this ETag without reading the lock first; a
 * conflict means someone did (a run standing down asked for a rerun), and the lock is read.
 */
export interface TickLockWritten {
  readonly etag: string;
  readonly rerun: boolean;
}

/** Which scheduled run a delivery belongs to: every delivery of one message has the same. */
function runOf(tick: TickPayload): string {
  return `${tick.tick}:${tick.at}`;
}

/** Whether a lock's owner is a delivery of `run` (or, as written before deliveries were told apart, the run itself). */
function isDeliveryOf(owner: string, run: string): boolean {
  return owner === run || owner.startsWith(`${run}/`);
}

/**
 * Only one run of a poll at a time, across instances and across deliveries of one message: a
 * run that finds another one running leaves a note asking for a rerun and does nothing else, so
 * extra scheduled runs (several handlers asked at once) fold into the one chain instead of
 * running side by side. The lock names the delivery, not only the run, so that a redelivery of
 * the message is never taken for the run already holding it.
 */
export async function beginTickRun(deps: TickDeps, tick: TickPayload, delivery: string = randomUUID()): Promise<TickRun> {
  const run = runOf(tick);
  const owner = `${run}/${delivery}`;
  for (let attempt = 0; attempt < 8; attempt++) {
    const lock = await deps.leases.getLock(tick.tick);
    const now = deps.now().getTime();
    const held = lock.owner !== undefined && lock.until !== undefined && Date.parse(lock.until) > now;
    try {
      if (held) {
        if (isDeliveryOf(lock.owner!, run)) return { kind: 'wait', until: new Date(Date.parse(lock.until!)) };
        if (!lock.rerun) await deps.leases.setLock(tick.tick, { owner: lock.owner, until: lock.until, rerun: true }, lock.etag);
        return { kind: 'stand-down' };
      }
      // Taking over from a delivery of the same run that died keeps any rerun asked of it.
      const rerun = lock.owner !== undefined && isDeliveryOf(lock.owner, run) && lock.rerun;
      const etag = await deps.leases.setLock(tick.tick, { owner, until: new Date(now + RUN_LEASE_MS).toISOString(), rerun }, lock.etag);
      return { kind: 'run', owner, written: { etag, rerun } };
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError) && !(error instanceof EntityExistsError)) throw error;
    }
  }
  return { kind: 'stand-down' };
}

/**
 * What a poll knows of its run lock. A poll that works through its devices a page at a time
 * asks before each page, and stops when another run has taken the lock over: that run goes on
 * with the work, so two runs never move the same devices side by side for long.
 */
export interface PollRun {
  /** Whether this run still holds its lock; renews it first when its last renewal is not recent. */
  stillHeld(): Promise<boolean>;
}

/** A poll called outside any run lock (a direct call): it always goes on. */
export const UNLOCKED: PollRun = { stillHeld: () => Promise.resolve(true) };

/**
 * Renews the run lock every RUN_RENEW_MS until stopped. `onLost` is told once if the lock is
 * found in other hands: this run could not renew it for RUN_LEASE_MS, so another run may have
 * started beside it. `stillHeld` answers the poll between its pages; `stop` resolves to the lock
 * as last written, for the release.
 */
export function keepTickRun(
  deps: TickDeps,
  tick: TickName,
  owner: string,
  written: TickLockWritten,
  onLost: () => void,
  everyMs: number = RUN_RENEW_MS,
): PollRun & { stop(): Promise<TickLockWritten | undefined> } {
  let stopped = false;
  let lost = false;
  let last: TickLockWritten | undefined = written;
  // When the lock was last written by this run (on the lock's clock): until half a lease later,
  // no other run can have taken it, so a page needs no renewal of its own.
  let writtenAt = deps.now().getTime();
  let renewing: Promise<void> = Promise.resolve();
  const renew = async (): Promise<void> => {
    for (let attempt = 0; attempt < 3 && !stopped; attempt++) {
      let at = last;
      if (!at) {
        const lock = await deps.leases.getLock(tick);
        if (stopped) return;
        if (lock.owner !== owner) {
          stopped = true;
          lost = true;
          clearInterval(timer);
          onLost();
          return;
        }
        at = { etag: lock.etag!, rerun: lock.rerun };
      }
      try {
        // A rerun asked for meanwhile is kept: the note is for this run to act on when it ends.
        const now = deps.now().getTime();
        const until = new Date(now + RUN_LEASE_MS).toISOString();
        last = { etag: await deps.leases.setLock(tick, { owner, until, rerun: at.rerun }, at.etag), rerun: at.rerun };
        writtenAt = now;
        return;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError)) throw error;
        last = undefined;
      }
    }
  };
  // One renewal at a time; a failed one is tried again at the next beat, well inside the lease.
  const renewSoon = (): Promise<void> => (renewing = renewing.then(renew).catch(() => undefined));
  const timer = setInterval(() => void renewSoon(), everyMs);
  timer.unref();
  return {
    async stillHeld() {
      if (lost || deps.now().getTime() - writtenAt < RUN_LEASE_MS / 2) return !lost;
      await renewSoon();
      return !lost;
    },
    /** Resolves once no renewal is under way, so the lock can be released after it. */
    async stop() {
      stopped = true;
      clearInterval(timer);
      await renewing;
      return last;
    },
  };
}

/**
 * Releases the run lock; true when another run was asked for while this one ran. `written` (the
 * lock as this run last wrote it) saves the read unless someone else has written since.
 */
export async function endTickRun(deps: TickDeps, tick: TickName, owner: string, written?: TickLockWritten): Promise<boolean> {
  let known = written;
  for (let attempt = 0; attempt < 8; attempt++) {
    const lock = known ? { owner, etag: known.etag, rerun: known.rerun } : await deps.leases.getLock(tick);
    if (lock.owner !== owner) return false;
    try {
      await deps.leases.setLock(tick, { owner: undefined, until: undefined, rerun: false }, lock.etag);
      return lock.rerun;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError)) throw error;
      known = undefined;
    }
  }
  return false;
}
