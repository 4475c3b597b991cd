import { systemClock, type Clock } from '../../domain/clock.js';
/**
 * The app's own tenant-wide Graph budget: requests are counted per fixed window before they are
 * sent, so the app slows itself down before Graph answers 429. Lower priorities may use only a
 * share of each window, so imports are never starved by status polling or cleanup.
 */

import type { BudgetPriority } from '../../services/autopilot-port.js';

export type { BudgetPriority };
type RequestKind = 'read' | 'write';

export interface BudgetRequest {
  kind: RequestKind;
  priority: BudgetPriority;
}

export type BudgetDecision = { granted: true } | { granted: false; retryAfterMs: number };

export interface RequestBudget {
  /** Counts the request against the current window, or refuses with the wait until the next one. */
  acquire(request: BudgetRequest): Promise<BudgetDecision>;
  /** Graph answered 429: no caller sends more until its Retry-After has passed (whole windows). */
  reportThrottled(retryAfterMs: number): Promise<void>;
  /** True for exactly one caller per interval across everyone sharing the budget. */
  claimSync(intervalMs: number): Promise<boolean>;
}

export interface BudgetLimits {
  writesPerWindow: number;
  requestsPerWindow: number;
  windowMs: number;
  shares: Record<BudgetPriority, number>;
}

export interface WindowCounts {
  writes: number;
  requests: number;
}

/** How many requests of this priority a window allows (at least one whenever the share is positive). */
export function ceilingFor(limit: number, share: number): number {
  if (share <= 0 || limit <= 0) return 0;
  return Math.max(1, Math.floor(limit * Math.min(share, 1)));
}

/** The counts after granting the request, or undefined when the window has no room for it. */
export function admit(counts: WindowCounts, request: BudgetRequest, limits: BudgetLimits): WindowCounts | undefined {
  const share = limits.shares[request.priority];
  const requests = counts.requests + 1;
  const writes = counts.writes + (request.kind === 'write' ? 1 : 0);
  if (requests > ceilingFor(limits.requestsPerWindow, share)) return undefined;
  if (request.kind === 'write' && writes > ceilingFor(limits.writesPerWindow, share)) return undefined;
  return { writes, requests };
}

export function windowIndex(now: number, windowMs: number): number {
  return Math.floor(now / windowMs);
}

export function untilWindowEnds(now: number, windowMs: number, index = windowIndex(now, windowMs)): number {
  return Math.max(1, (index + 1) * windowMs - now);
}

interface InMemoryBudgetOptions {
  limits: BudgetLimits;
  /** Injectable so tests control time. */
  now?: Clock;
}

/** For one process (unit tests, a single dev host); scaled-out instances need the table budget. */
export function createInMemoryBudget(options: InMemoryBudgetOptions): RequestBudget {
  const { limits } = options;
  const clock = options.now ?? systemClock;
  const now = (): number => clock().getTime();
  let current = { index: -1, counts: { writes: 0, requests: 0 } };
  let lastSync: number | undefined;
  let blockedUntil = 0;
  const windowAt = (time: number): WindowCounts => {
    const index = windowIndex(time, limits.windowMs);
    if (index !== current.index) current = { index, counts: { writes: 0, requests: 0 } };
    return current.counts;
  };
  return {
    async acquire(request) {
      const time = now();
      if (time < blockedUntil) return { granted: false, retryAfterMs: blockedUntil - time };
      const next = admit(windowAt(time), request, limits);
      if (!next) return { granted: false, retryAfterMs: untilWindowEnds(time, limits.windowMs) };
      current.counts = next;
      return { granted: true };
    },
    async reportThrottled(retryAfterMs) {
      const time = now();
      windowAt(time);
      current.counts = { writes: limits.writesPerWindow, requests: limits.requestsPerWindow };
      blockedUntil = Math.max(blockedUntil, time + retryAfterMs);
    },
    async claimSync(intervalMs) {
      const time = now();
      if (lastSync !== undefined && time - lastSync < intervalMs) return false;
      lastSync = time;
      return true;
    },
  };
}
