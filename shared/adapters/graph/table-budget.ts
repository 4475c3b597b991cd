import { systemClock, type Clock } from '../../domain/clock.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import type { EntityProps, TableStore } from '../tables/table-store.js';
import {
  admit,
  untilWindowEnds,
  windowIndex,
  type BudgetDecision,
  type BudgetLimits,
  type BudgetRequest,
  type RequestBudget,
  type WindowCounts,
} from './budget.js';

/**
 * The budget every instance of the app shares, kept in one Table Storage partition:
 * a small ring of window counters (slot = window index mod ring size, so the table never grows)
 * and the last Autopilot sync time, through the one TableStore. Every change is ETag-guarded;
 * a conflict means another instance got there first, so the decision is re-read and retried.
 */

const PARTITION = 'graph-budget';
const SYNC_ROW = 'sync';

export type BudgetRow = EntityProps & {
  writes?: number;
  requests?: number;
  /** Stored as a string: a scaled-down window makes the index exceed Int32. */
  windowIndex?: string;
  lastSyncAt?: string;
};

export interface TableBudgetOptions {
  /** The budget table (created on first use). */
  store: TableStore<BudgetRow>;
  limits: BudgetLimits;
  now?: Clock;
  /** Window counters kept (default 8). */
  ringSize?: number;
  /** Conflicting writes tolerated before giving up on one decision (default 50). */
  maxAttempts?: number;
}

export function createTableBudget(options: TableBudgetOptions): RequestBudget {
  const { store, limits } = options;
  const clock = options.now ?? systemClock;
  const now = (): number => clock().getTime();
  const ringSize = options.ringSize ?? 8;
  const maxAttempts = options.maxAttempts ?? 50;
  const ensureTable = (): Promise<void> => store.ensureTable();
  // Callers inside one instance take turns, so the ETag races are only between instances.
  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };

  /** Reads the slot for `index` and applies `change` to it with optimistic concurrency. */
  const updateWindow = async (
    change: (counts: WindowCounts, index: number) => WindowCounts | undefined,
    offsetMs = 0,
  ): Promise<{ applied: boolean; index: number }> => {
    await ensureTable();
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const index = windowIndex(now() + offsetMs, limits.windowMs);
      const rowKey = `window-${index % ringSize}`;
      const existing = await store.get(PARTITION, rowKey);
      const storedIndex = existing ? Number(existing.value.windowIndex) : undefined;
      // A slot from an earlier window starts over; a later one (another instance's clock runs ahead) is joined.
      const effectiveIndex = storedIndex !== undefined && storedIndex > index ? storedIndex : index;
      const counts =
        existing && storedIndex === effectiveIndex
          ? { writes: existing.value.writes ?? 0, requests: existing.value.requests ?? 0 }
          : { writes: 0, requests: 0 };
      const next = change(counts, effectiveIndex);
      if (!next) return { applied: false, index: effectiveIndex };
      const row: BudgetRow = { windowIndex: String(effectiveIndex), ...next };
      try {
        if (existing) await store.update(PARTITION, rowKey, row, existing.etag);
        else await store.insert(PARTITION, rowKey, row);
        return { applied: true, index: effectiveIndex };
      } catch (error) {
        if (!isConflict(error)) throw error;
        await pause(attempt);
      }
    }
    return { applied: false, index: -1 };
  };

  return {
    acquire: (request: BudgetRequest) =>
      serialised(async (): Promise<BudgetDecision> => {
        let refusedIn: number | undefined;
        const outcome = await updateWindow((counts, index) => {
          const next = admit(counts, request, limits);
          if (!next) refusedIn = index;
          return next;
        });
        if (outcome.applied) return { granted: true };
        const time = now();
        if (refusedIn !== undefined) return { granted: false, retryAfterMs: untilWindowEnds(time, limits.windowMs, refusedIn) };
        // Lost every race: so busy that waiting for the next window is the right answer anyway.
        return { granted: false, retryAfterMs: untilWindowEnds(time, limits.windowMs) };
      }),

    // Graph's Retry-After holds for the whole app: every window it reaches is spent, for
    // every instance (up to the ring's span).
    reportThrottled: (retryAfterMs: number) =>
      serialised(async () => {
        const windows = Math.min(ringSize - 1, Math.max(1, Math.ceil(retryAfterMs / limits.windowMs)));
        for (let ahead = 0; ahead < windows; ahead++) {
          await updateWindow(
            (counts) =>
              counts.requests >= limits.requestsPerWindow && counts.writes >= limits.writesPerWindow
                ? undefined
                : { writes: limits.writesPerWindow, requests: limits.requestsPerWindow },
            ahead === 0 ? 0 : ahead * limits.windowMs,
          );
          if (ahead * limits.windowMs >= retryAfterMs) break;
        }
      }),

    claimSync: (intervalMs: number) =>
      serialised(async () => {
        await ensureTable();
        const time = now();
        const existing = await store.get(PARTITION, SYNC_ROW);
        if (existing && time - Number(existing.value.lastSyncAt) < intervalMs) return false;
        const row: BudgetRow = { lastSyncAt: String(time) };
        try {
          if (existing) await store.update(PARTITION, SYNC_ROW, row, existing.etag);
          else await store.insert(PARTITION, SYNC_ROW, row);
          return true;
        } catch (error) {
          // Someone else claimed it between our read and write: their sync counts for us.
          if (isConflict(error)) return false;
          throw error;
        }
      }),
  };
}

/** Stale ETag on replace, or the row created by someone else first. */
function isConflict(error: unknown): boolean {
  return error instanceof ConcurrencyConflictError || error instanceof EntityExistsError;
}

function pause(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(20, 2 + attempt * 2);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
