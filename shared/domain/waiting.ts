import type { WaitStep } from './lifecycle.js';

/**
 * Waiting policy: how long to wait before looking again, and when to give up. Every
 * duration here is real-world; callers divide by ZTP_TIME_SCALE (config `scaled`).
 */

export interface WaitPolicy {
  readonly firstPollMs: number;
  /**
   * Once the first import poll has run, the import poll's interval while records are still
   * pending (backing off from here when nothing moves): imports finish over a spread of
   * about a minute, and each device should be registered soon after its record is.
   */
  readonly importPollMs: number;
  readonly maxPollIntervalMs: number;
  readonly deadlines: Readonly<Record<WaitStep, number>>;
  /**
   * After a re-tag, how long a profile that stays assigned (same profile for the new tag, so
   * Autopilot shows no change) must keep showing before it counts as assigned for the new tag.
   */
  readonly retagSettleMs: number;
}

/** Exponential backoff: first, 2×, 4×… capped. `attempt` counts from 0. */
export function backoffMs(attempt: number, firstMs: number, maxMs: number): number {
  const factor = 2 ** Math.min(Math.max(attempt, 0), 30);
  return Math.min(firstMs * factor, maxMs);
}

export function deadlineAt(step: WaitStep, since: Date, policy: WaitPolicy): Date {
  return new Date(since.getTime() + policy.deadlines[step]);
}

export function isPastDeadline(deadline: string | undefined, now: Date): boolean {
  return deadline !== undefined && Date.parse(deadline) <= now.getTime();
}
