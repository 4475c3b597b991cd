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
  const lease = await deps.leases.get(tick);
  const due = lease.scheduledFor ? Date.parse(lease.scheduledFor) : undefined;
  const pendingRun = due !== undefined && lease.scheduledFor !== options.replacing && due > deps.now().getTime();
  if (pendingRun && due <= at.getTime()) return;
  const payload: TickPayload = {
    tick,
    at: at.toISOString(),
    idle: options.idle ?? 0,
    ...(options.cleanup?.length ? { cleanup: [...options.cleanup] } : {}),
  };
  await deps.queue.schedule(tickQueue, [tickMessage(payload, options.correlationId)], at);
  try {
    await deps.leases.set(tick, at.toISOString(), lease.etag);
  } catch (error) {
    // Another caller moved the lease meanwhile: both runs exist and merge.
    if (!(error instanceof ConcurrencyConflictError) && !(error instanceof EntityExistsError)) throw error;
  }
}

/** Longest a poll run may hold its lock before it is presumed dead (the function timeout). */
const RUN_LOCK_MS = 10 * 60_000;

/**
 * Only one run of a poll at a time, across instances: a run that finds another one running
 * leaves a note asking for a rerun and does nothing else, so extra scheduled runs (several
 * handlers asked at once) fold into the one chain instead of running side by side.
 * Returns false when this run should stand down.
 */
export async function beginTickRun(deps: TickDeps, tick: TickPayload): Promise<boolean> {
  const owner = `${tick.tick}:${tick.at}`;
  for (let attempt = 0; attempt < 8; attempt++) {
    const lock = await deps.leases.getLock(tick.tick);
    const now = deps.now().getTime();
    const heldByOther = lock.owner !== undefined && lock.owner !== owner && lock.until !== undefined && Date.parse(lock.until) > now;
    try {
      if (heldByOther) {
        if (!lock.rerun) await deps.leases.setLock(tick.tick, { owner: lock.owner, until: lock.until, rerun: true }, lock.etag);
        return false;
      }
      // A redelivery of the same run keeps any rerun already asked for.
      await deps.leases.setLock(
        tick.tick,
        { owner, until: new Date(now + RUN_LOCK_MS).toISOString(), rerun: lock.owner === owner && lock.rerun },
        lock.etag,
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError) && !(error instanceof EntityExistsError)) throw error;
    }
  }
  return false;
}

/** Releases the run lock; true when another run was asked for while this one ran. */
export async function endTickRun(deps: TickDeps, tick: TickPayload): Promise<boolean> {
  const owner = `${tick.tick}:${tick.at}`;
  for (let attempt = 0; attempt < 8; attempt++) {
    const lock = await deps.leases.getLock(tick.tick);
    if (lock.owner !== owner) return false;
    try {
      await deps.leases.setLock(tick.tick, { owner: undefined, until: undefined, rerun: false }, lock.etag);
      return lock.rerun;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError)) throw error;
    }
  }
  return false;
}
