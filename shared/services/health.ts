import type { GraphResult } from './graph-result.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { ConfigError, TimeoutError } from '../errors.js';

/**
 * The dependency check: storage, Service Bus and Graph, each with its own time budget, all at
 * once. A failing check says why in a few words — an error code, a status, a timeout — never a
 * message that could carry a connection string, a URL with a key or a stack trace. How often it
 * runs, and who may see its result, is `app-health.ts`.
 */

export const HEALTH_CHECKS = ['storage', 'serviceBus', 'graph'] as const;
export type HealthCheckName = (typeof HEALTH_CHECKS)[number];

export interface HealthProbes {
  /** One cheap storage round trip; resolving means it answered. */
  readonly storage: (signal: AbortSignal) => Promise<unknown>;
  /** One cheap Service Bus round trip; resolving means it answered. */
  readonly serviceBus: (signal: AbortSignal) => Promise<unknown>;
  /** One cheap Graph read. */
  readonly graph: (signal: AbortSignal) => Promise<GraphResult<unknown>>;
}

export interface CheckResult {
  readonly ok: boolean;
  /** How long the check took (real ms). */
  readonly ms: number;
  /** Why it failed; for Graph also when it answered but throttled. */
  readonly reason?: string;
}

export interface HealthReport {
  readonly status: 'ok' | 'degraded';
  readonly checks: Readonly<Record<HealthCheckName, CheckResult>>;
}

export interface HealthOptions {
  /** Each check's budget (real ms). */
  readonly timeoutMs: number;
  readonly clock?: Clock;
}

/**
 * `work` raced against `ms`: rejects with a TimeoutError naming the wait, and aborts the
 * signal it gave the work so an SDK call can stop too.
 */
export async function withTimeout<T>(work: (signal: AbortSignal) => Promise<T>, ms: number, what = 'no answer'): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new TimeoutError(`${what} within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Graph refusing with 429 still proves it is reachable; so does the app's own budget saying "not now". */
function graphOutcome(result: GraphResult<unknown>): { ok: boolean; reason?: string } {
  if (result.ok) return { ok: true };
  switch (result.kind) {
    case 'throttled':
      return { ok: true, reason: result.source === 'graph' ? 'throttled by Graph (429)' : 'not sent: the app is at its own Graph budget' };
    case 'transient':
      return { ok: false, reason: result.status ? `answered ${result.status}` : `unreachable${result.code ? ` (${result.code})` : ''}` };
    case 'not-found':
      return { ok: false, reason: 'answered 404: the Graph base URL looks wrong' };
    case 'permanent':
      return { ok: false, reason: `answered ${result.status}${result.code ? ` ${result.code}` : ''}` };
  }
}

/** A short, safe description of an error: its code or status, never its message. */
export function failureReason(error: unknown): string {
  if (error instanceof TimeoutError) return error.message;
  if (typeof error === 'object' && error !== null) {
    const { statusCode, code, name } = error as { statusCode?: unknown; code?: unknown; name?: unknown };
    if (typeof statusCode === 'number') return `answered ${statusCode}`;
    if (typeof code === 'string' && /^[\w.-]{1,64}$/.test(code)) return `failed (${code})`;
    if (typeof name === 'string' && /^[\w.-]{1,64}$/.test(name) && name !== 'Error') return `failed (${name})`;
  }
  return 'failed';
}

async function runCheck<T>(
  probe: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  clock: Clock,
): Promise<{ value?: T; error?: unknown; ms: number }> {
  const started = clock().getTime();
  try {
    const value = await withTimeout(probe, timeoutMs);
    return { value, ms: Math.round(clock().getTime() - started) };
  } catch (error) {
    return { error, ms: Math.round(clock().getTime() - started) };
  }
}

export async function checkHealth(probes: HealthProbes, options: HealthOptions): Promise<HealthReport> {
  const clock = options.clock ?? systemClock;
  const [storage, serviceBus, graph] = await Promise.all([
    runCheck(probes.storage, options.timeoutMs, clock),
    runCheck(probes.serviceBus, options.timeoutMs, clock),
    runCheck(probes.graph, options.timeoutMs, clock),
  ]);
  const plain = (run: { error?: unknown; ms: number }): CheckResult =>
    run.error === undefined ? { ok: true, ms: run.ms } : { ok: false, ms: run.ms, reason: failureReason(run.error) };
  const graphCheck: CheckResult =
    graph.error !== undefined || graph.value === undefined
      ? { ok: false, ms: graph.ms, reason: failureReason(graph.error) }
      : { ms: graph.ms, ...graphOutcome(graph.value) };
  const checks = { storage: plain(storage), serviceBus: plain(serviceBus), graph: graphCheck };
  const status = Object.values(checks).every((check) => check.ok) ? 'ok' : 'degraded';
  return { status, checks };
}

/** Why the app itself could not start, safely: the setting's name for a configuration error. */
export function startupFailureReason(error: unknown): string {
  if (error instanceof ConfigError) return `setting ${error.setting} is missing or invalid`;
  return `the app could not start: ${failureReason(error)}`;
}

/** The app once it has started within `ms`, or why it could not (safely worded: see startupFailureReason). */
export async function whenStarted<T>(start: () => Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
  try {
    return { ok: true, value: await withTimeout(() => start(), ms, 'start-up') };
  } catch (error) {
    return { ok: false, reason: startupFailureReason(error) };
  }
}
