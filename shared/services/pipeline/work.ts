import type { GraphFailure } from '../graph-result.js';
import { backoffMs } from '../../domain/waiting.js';

/**
 * What a pipeline handler tells its function: the work is done, or it must run again at a
 * given time. Throttling and transient faults become rescheduled messages — a handler never
 * sleeps, and a throttled message never counts as a failed delivery.
 */
export type WorkResult =
  | { readonly kind: 'done' }
  | {
      readonly kind: 'retry';
      readonly at: Date;
      readonly reason: 'throttled' | 'transient';
      readonly detail: string;
      /** What the rescheduled copy carries instead of the original payload. */
      readonly payload?: unknown;
    };

export const DONE: WorkResult = { kind: 'done' };

export interface RetryPolicy {
  /** Real ms before the first transient retry (already divided by ZTP_TIME_SCALE). */
  readonly firstRetryMs: number;
  readonly maxRetryMs: number;
  /** Transient retries by rescheduling; work that still fails on the last is set aside (`retries-exhausted`), never redelivered at once. */
  readonly maxTransientRetries: number;
}

/** Turns a Graph failure into a reschedule: at Retry-After when throttled, with backoff when transient. */
export function retryFor(failure: GraphFailure, attempt: number, policy: RetryPolicy, now: Date, what: string): WorkResult {
  if (failure.kind === 'throttled') {
    return {
      kind: 'retry',
      at: new Date(now.getTime() + failure.retryAfterMs),
      reason: 'throttled',
      detail: `${what}: throttled (${failure.source})`,
    };
  }
  const delay = backoffMs(attempt, policy.firstRetryMs, policy.maxRetryMs);
  return {
    kind: 'retry',
    at: new Date(now.getTime() + delay),
    reason: 'transient',
    detail: `${what}: ${failure.kind} ${'message' in failure ? failure.message : ''}`.trim(),
  };
}

/** Devices a poll handles at once: Table Storage round trips overlap, Graph calls still queue for the budget. */
export const DEVICE_CONCURRENCY = 16;

/** Maps `items` through `work` with at most `limit` in flight; results keep the items' order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  await forEachLimited(
    items.map((item, index) => ({ item, index })),
    limit,
    async ({ item, index }) => {
      results[index] = await work(item);
    },
  );
  return results;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}

/**
 * Groups `items` into arrays of at most `size`, reading ahead no further than the page being
 * filled: a poll then holds one page of waiting devices at a time, whatever the fleet.
 */
export async function* inPages<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let page: T[] = [];
  for await (const item of items) {
    page.push(item);
    if (page.length >= size) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}
