import type { TickLeaseRepository } from '../../adapters/tables/tick-leases.js';
import type { WorkQueue } from '../../adapters/bus/work-queue.js';
import { QUEUES } from '../../adapters/bus/queues.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';

/**
 * Periodic polls that answer many devices with one Graph listing. Each poll ("tick") runs as
 * one chain of scheduled messages, however many handlers ask for it: a lease row records
 * when the next run is due, and asking for a later run than one already due is a no-op.
 */

export type TickName = 'imports' | 'autopilot';

export interface TickPayload {
  readonly tick: TickName;
  /** When this run was scheduled for (ISO); identifies the run. */
  readonly at: string;
  /** Consecutive runs that saw no progress: drives the backoff. */
  readonly idle: number;
}

export interface TickDeps {
  readonly leases: Pick<TickLeaseRepository, 'get' | 'set'>;
  readonly queue: Pick<WorkQueue, 'schedule'>;
  readonly now: () => Date;
  /** A scheduled run this far in the past is presumed lost and may be replaced (real ms). */
  readonly staleAfterMs: number;
}

export function tickMessageId(tick: TickName, at: Date): string {
  return `tick:${tick}:${at.getTime()}`;
}

/**
 * Makes sure a run of `tick` happens at or before `at`. `replacing` is the run that is asking
 * for its successor: its own lease entry no longer counts as a future run.
 */
export async function ensureTick(deps: TickDeps, tick: TickName, at: Date, options: { idle?: number; replacing?: string; correlationId: string }): Promise<void> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const lease = await deps.leases.get(tick);
    const due = lease.scheduledFor ? Date.parse(lease.scheduledFor) : undefined;
    const now = deps.now().getTime();
    const pendingRun = due !== undefined && lease.scheduledFor !== options.replacing && due > now - deps.staleAfterMs;
    if (pendingRun && due <= at.getTime()) return;
    try {
      await deps.leases.set(tick, at.toISOString(), lease.etag);
    } catch (error) {
      if (error instanceof ConcurrencyConflictError || error instanceof EntityExistsError) continue;
      throw error;
    }
    const payload: TickPayload = { tick, at: at.toISOString(), idle: options.idle ?? 0 };
    await deps.queue.schedule(QUEUES.followup, [{ kind: 'tick', correlationId: options.correlationId, messageId: tickMessageId(tick, at), payload }], at);
    return;
  }
  throw new Error(`Could not schedule the ${tick} poll: the lease kept changing`);
}
