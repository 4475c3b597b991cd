import { ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import type { BudgetPriority, RequestBudget } from './budget.js';
import { success, type GraphResult } from '../../services/graph-result.js';
import { errorSchema } from './schemas.js';
import { SendProgress } from './transport.js';

export type Version = 'v1.0' | 'beta';
type Method = 'GET' | 'POST' | 'DELETE';

export interface Reply {
  status: number;
  body: unknown;
}

/** One request: budget first, then exactly one attempt, mapped to a typed result. */
export type Call = (
  method: Method,
  version: Version,
  path: string,
  priority: BudgetPriority,
  body?: unknown,
  /** Not sent at all once this passes (a `performance.now()` time), however long the budget took to admit it. */
  sendBy?: number,
) => Promise<GraphResult<Reply>>;

/** A call's result, and whether its request left for Graph (not when the budget refused it or it failed before it was written). */
export interface Exchange {
  result: GraphResult<Reply>;
  sent: boolean;
}

export type Send = (...args: Parameters<Call>) => Promise<Exchange>;

export function callOf(send: Send): Call {
  return async (...args) => (await send(...args)).result;
}

export function createSend(graph: Client, budget: RequestBudget, defaultRetryAfterMs: number): Send {
  const unsent = (result: GraphResult<Reply>): Exchange => ({ result, sent: false });
  const sent = (result: GraphResult<Reply>): Exchange => ({ result, sent: true });
  return async (method, version, path, priority, body, sendBy) => {
    let decision: Awaited<ReturnType<RequestBudget['acquire']>>;
    try {
      decision = await budget.acquire({ kind: method === 'GET' ? 'read' : 'write', priority });
    } catch (error) {
      return unsent({ ok: false, kind: 'transient', message: `request budget unavailable: ${describeThrown(error)}` });
    }
    if (!decision.granted) return unsent({ ok: false, kind: 'throttled', retryAfterMs: decision.retryAfterMs, source: 'budget' });
    // The slot came too late for a caller whose request must leave by then (an import claim's window).
    if (sendBy !== undefined && performance.now() >= sendBy)
      return unsent({ ok: false, kind: 'throttled', retryAfterMs: 0, source: 'budget' });
    const progress = new SendProgress();
    let response: Response;
    try {
      const request = graph.api(path).version(version).responseType(ResponseType.RAW).middlewareOptions([progress]);
      response = (await (method === 'GET' ? request.get() : method === 'DELETE' ? request.delete() : request.post(body ?? {}))) as Response;
    } catch (error) {
      const result: GraphResult<Reply> = { ok: false, kind: 'transient', message: describeThrown(error) };
      return progress.written ? sent(result) : unsent(result);
    }
    let raw: string;
    try {
      raw = await response.text();
    } catch (error) {
      return sent({ ok: false, kind: 'transient', status: response.status, message: describeThrown(error) });
    }
    const parsed = parseJson(raw);
    const status = response.status;
    if (status >= 200 && status < 300) return sent(success({ status, body: parsed }));
    const { code, message } = graphError(parsed, status, raw);
    if (status === 429) {
      const retryAfterMs = retryAfter(response.headers.get('retry-after'), defaultRetryAfterMs);
      await budget.reportThrottled(retryAfterMs).catch(() => undefined);
      return sent({ ok: false, kind: 'throttled', retryAfterMs, source: 'graph' });
    }
    if (status === 404) return sent({ ok: false, kind: 'not-found', message });
    if (status === 408 || status >= 500) {
      const header = response.headers.get('retry-after');
      if (!header) return sent({ ok: false, kind: 'transient', status, code, message });
      // A 503 (or any failure) that says when to come back asks the whole app to wait, as a 429 does.
      const retryAfterMs = retryAfter(header, defaultRetryAfterMs);
      await budget.reportThrottled(retryAfterMs).catch(() => undefined);
      return sent({ ok: false, kind: 'transient', status, code, message, retryAfterMs });
    }
    return sent({ ok: false, kind: 'permanent', status, code, message });
  };
}

/** Seconds (possibly fractional) or an HTTP date; the default when absent or unreadable. */
export function retryAfter(header: string | null, defaultMs: number): number {
  if (header === null || header.trim() === '') return defaultMs;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? defaultMs : Math.max(0, date - Date.now());
}

function parseJson(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function graphError(body: unknown, status: number, raw: string): { code: string; message: string } {
  const parsed = errorSchema.safeParse(body);
  if (parsed.success) return { code: parsed.data.error.code ?? `Http${status}`, message: parsed.data.error.message ?? '' };
  return { code: `Http${status}`, message: raw.slice(0, 200) };
}

/** The Graph client wraps transport errors in a GraphError whose body holds the original. */
export function describeThrown(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { body, message, code } = error as { body?: unknown; message?: unknown; code?: unknown };
    if (typeof body === 'string' && body !== '') return body;
    if (typeof message === 'string' && message !== '') return typeof code === 'string' ? `${code}: ${message}` : message;
  }
  return String(error);
}
