/**
 * Every Graph operation resolves (never rejects) to one of these. The pipeline acts on `kind`:
 * - `throttled`: try again after `retryAfterMs` (real ms) — reschedule, never sleep. `source`
 *   says whether Graph answered 429 or the app's own budget refused before sending anything.
 * - `transient`: 5xx, network failure, timeout, dropped connection. A non-idempotent POST may
 *   or may not have taken effect: check before repeating it.
 * - `not-found`: 404 for the addressed entity.
 * - `permanent`: any other 4xx, with Graph's error code; repeating the same call will not help.
 */
export type GraphResult<T> = { ok: true; value: T } | GraphFailure;

export type GraphFailure =
  | { ok: false; kind: 'throttled'; retryAfterMs: number; source: 'graph' | 'budget' }
  | { ok: false; kind: 'transient'; status?: number; code?: string; message: string; retryAfterMs?: number }
  | { ok: false; kind: 'not-found'; message: string }
  | { ok: false; kind: 'permanent'; status: number; code: string; message: string };

export const success = <T>(value: T): GraphResult<T> => ({ ok: true, value });
