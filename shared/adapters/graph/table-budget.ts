import type { TableClient } from '@azure/data-tables';
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
 * and the last Autopilot sync time. Every change is an ETag-guarded replace; a 412 means
 * another instance got there first, so the decision is re-read and retried.
 */

const PARTITION = 'graph-budget';
const SYNC_ROW = 'sync';

interface WindowEntity extends WindowCounts {
  partitionKey: string;
  rowKey: string;
  /** Stored as a string: a scaled-down window makes the index exceed Int32. */
  windowIndex: string;
}

interface SyncEntity {
  partitionKey: string;
  rowKey: string;
  lastSyncAt: string;
}

interface TableBudgetOptions {
  /** A client for the budget table (created on first use); `allowInsecureConnection` for http endpoints. */
  tableClient: TableClient;
  limits: BudgetLimits;
  now?: () => number;
  /** Window counters kept (default 8). */
  ringSize?: number;
  /** Conflicting writes tolerated before giving up on one decision (default 50). */
  maxAttempts?: number;
}

export function createTableBudget(options: TableBudgetOptions): RequestBudget {
  const { tableClient, limits } = options;
  const now = options.now ?? Date.now;
  const ringSize = options.ringSize ?? 8;
  const maxAttempts = options.maxAttempts ?? 50;
  let ready: Promise<void> | undefined;
  const ensureTable = (): Promise<void> => {
    ready ??= tableClient.createTable().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
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
      const existing = await readEntity<WindowEntity>(tableClient, rowKey);
      const storedIndex = existing ? Number(existing.windowIndex) : undefined;
      // A slot from an earlier window starts over; a later one (another instance's clock runs ahead) is joined.
      const effectiveIndex = storedIndex !== undefined && storedIndex > index ? storedIndex : index;
      const counts =
        existing && storedIndex === effectiveIndex ? { writes: existing.writes, requests: existing.requests } : { writes: 0, requests: 0 };
      const next = change(counts, effectiveIndex);
      if (!next) return { applied: false, index: effectiveIndex };
      const entity: WindowEntity = { partitionKey: PARTITION, rowKey, windowIndex: String(effectiveIndex), ...next };
      try {
        if (existing) await tableClient.updateEntity(entity, 'Replace', { etag: existing.etag });
        else await tableClient.createEntity(entity);
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
        const existing = await readEntity<SyncEntity>(tableClient, SYNC_ROW);
        if (existing && time - Number(existing.lastSyncAt) < intervalMs) return false;
        const entity: SyncEntity = { partitionKey: PARTITION, rowKey: SYNC_ROW, lastSyncAt: String(time) };
        try {
          if (existing) await tableClient.updateEntity(entity, 'Replace', { etag: existing.etag });
          else await tableClient.createEntity(entity);
          return true;
        } catch (error) {
          // Someone else claimed it between our read and write: their sync counts for us.
          if (isConflict(error)) return false;
          throw error;
        }
      }),
  };
}

async function readEntity<T extends object>(client: TableClient, rowKey: string): Promise<(T & { etag: string }) | undefined> {
  try {
    return await client.getEntity<T>(PARTITION, rowKey);
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error && typeof error.statusCode === 'number'
    ? error.statusCode
    : undefined;
}

/** 412: stale ETag on replace; 409: the row was created by someone else first. */
function isConflict(error: unknown): boolean {
  const status = statusOf(error);
  return status === 412 || status === 409;
}

function pause(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(20, 2 + attempt * 2);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
