import { systemClock, type Clock } from '../../domain/clock.js';
import {
  bucketOf,
  bucketStart,
  ledgerGeometry,
  nextRoom,
  prune,
  record,
  roomAt,
  type BudgetLimits,
  type BudgetRequest,
  type Ledger,
} from './budget-ledger.js';

/**
 * The app's own tenant-wide Graph budget: every request takes a slot before it is sent, so the
 * app slows itself down before Graph answers 429, and no interval of a window, aligned or not,
 * sees more than the limit (see budget-ledger.ts). Lower priorities may use only a share of
 * it, so imports are never starved by status polling or cleanup.
 */

export type { BudgetPriority } from '../../services/autopilot-port.js';
export type { BudgetLimits, BudgetRequest } from './budget-ledger.js';
export { ceilingFor } from './budget-ledger.js';

export type BudgetDecision = { granted: true } | { granted: false; retryAfterMs: number };

/** The right to send the one Autopilot sync of an interval, taken before the call is made. */
export interface SyncClaim {
  /** The call was sent: the interval counts from now (Graph counts from when it took the sync). */
  confirm(): Promise<void>;
  /** The call was not sent (refused by the budget, failed before leaving): the next caller may sync. */
  release(): Promise<void>;
}

export interface RequestBudget {
  /** A slot for one request now, or a refusal with the wait until one may be free. */
  acquire(request: BudgetRequest): Promise<BudgetDecision>;
  /**
   * Graph asked the app to wait (429, or a 5xx with Retry-After): no caller anywhere is
   * granted anything until `retryAfterMs` from now has passed.
   */
  reportThrottled(retryAfterMs: number): Promise<void>;
  /** A claim for exactly one caller per interval across everyone sharing the budget; undefined for the others. */
  claimSync(intervalMs: number): Promise<SyncClaim | undefined>;
}

interface InMemoryBudgetOptions {
  limits: BudgetLimits;
  /** Injectable so tests control time. */
  now?: Clock;
}

/**
 * For one process (unit tests, a single dev host); scaled-out instances need the table budget.
 * One clock and slots used the moment they are granted: no lease time, no tolerance.
 */
export function createInMemoryBudget(options: InMemoryBudgetOptions): RequestBudget {
  const { limits } = options;
  const clock = options.now ?? systemClock;
  const now = (): number => clock().getTime();
  const geometry = ledgerGeometry(limits.windowMs, 0, 0);
  let ledger: Ledger = new Map();
  let lastSync: number | undefined;
  let blockedUntil = 0;
  return {
    async acquire(request) {
      const time = now();
      if (time < blockedUntil) return { granted: false, retryAfterMs: blockedUntil - time };
      const bucket = bucketOf(time, geometry);
      if (roomAt(ledger, bucket, request, limits, geometry) > 0) {
        ledger = prune(record(ledger, bucket, request, 1), bucket, geometry);
        return { granted: true };
      }
      const next = nextRoom(ledger, bucket, request, limits, geometry);
      const retryAt = next === undefined ? time + limits.windowMs : bucketStart(next, geometry);
      return { granted: false, retryAfterMs: Math.max(1, Math.ceil(retryAt - time)) };
    },
    async reportThrottled(retryAfterMs) {
      blockedUntil = Math.max(blockedUntil, now() + retryAfterMs);
    },
    async claimSync(intervalMs) {
      const time = now();
      if (lastSync !== undefined && time - lastSync < intervalMs) return undefined;
      const previous = lastSync;
      lastSync = time;
      let settled = false;
      return {
        async confirm() {
          if (settled || lastSync !== time) return;
          settled = true;
          lastSync = now();
        },
        async release() {
          if (settled || lastSync !== time) return;
          settled = true;
          lastSync = previous;
        },
      };
    },
  };
}
