import type { BudgetPriority } from '../../services/autopilot-port.js';

/**
 * The budget's pure admission: grants counted in buckets of a hundredth of the window, by the
 * clock of whoever granted them, and a grant admitted only while every run of `span`
 * consecutive buckets holding it stays within the limit.
 *
 * Why that holds in true time (Graph's), aligned or not: let a grant be decided at time `a` of
 * its instance's clock (bucket b, so bB <= a < bB + B), and its slot be used within the lease
 * time T after that (a <= use + e <= a + T, e = that clock's offset from true time). Take any
 * true interval [x, x + W) and let e* be the smallest offset of any instance; every offset is
 * within the tolerance S above it. A use inside the interval then has
 *   bB <= a <= use + e < x + W + e* + S   and   bB > a - B >= use + e - T - B >= x + e* - T - B,
 * so b lies in an open interval of W/B + T/B + S/B + 1 buckets: at most `span` whole buckets
 * (T and S rounded up to buckets). Every grant used in the interval therefore sits in one run
 * of `span` buckets, and no run holds more than the limit. Lower priorities are held to
 * their share of every run the same way, so imports keep the rest of each run to themselves.
 */

export type RequestKind = 'read' | 'write';

export interface BudgetRequest {
  kind: RequestKind;
  priority: BudgetPriority;
}

export interface BudgetLimits {
  /** Writes granted in any window, across everyone sharing the budget (after the headroom). */
  writesPerWindow: number;
  /** Requests of any kind granted in any window. */
  requestsPerWindow: number;
  windowMs: number;
  /** Fraction of the limits a priority may fill; `import` keeps what the others may not touch. */
  shares: Record<BudgetPriority, number>;
}

export interface Counts {
  writes: number;
  requests: number;
}

/** Grants by bucket index. */
export type Ledger = ReadonlyMap<number, Counts>;

export const BUCKETS_PER_WINDOW = 100;

export interface LedgerGeometry {
  bucketMs: number;
  /** Consecutive buckets whose grants could all be used within one window. */
  span: number;
  /**
   * Buckets behind the newest one a writer keeps: enough for a writer whose clock runs a
   * tolerance behind to still see every grant that can share a window with its own.
   */
  keep: number;
  /** The tolerance in buckets. */
  toleranceBuckets: number;
}

/** Rounded up, with room for the floating-point error of a window divided by the time scale. */
const wholeBuckets = (ms: number, bucketMs: number): number => Math.max(0, Math.ceil(ms / bucketMs - 1e-9));

export function ledgerGeometry(windowMs: number, leaseMs: number, clockToleranceMs: number): LedgerGeometry {
  const bucketMs = windowMs / BUCKETS_PER_WINDOW;
  const toleranceBuckets = wholeBuckets(clockToleranceMs, bucketMs);
  const span = BUCKETS_PER_WINDOW + wholeBuckets(leaseMs, bucketMs) + toleranceBuckets + 1;
  return { bucketMs, span, keep: span + toleranceBuckets + 1, toleranceBuckets };
}

export function bucketOf(time: number, geometry: LedgerGeometry): number {
  return Math.floor(time / geometry.bucketMs);
}

export function bucketStart(bucket: number, geometry: LedgerGeometry): number {
  return bucket * geometry.bucketMs;
}

/** How many requests of this priority a window allows (at least one whenever the share is positive). */
export function ceilingFor(limit: number, share: number): number {
  if (share <= 0 || limit <= 0) return 0;
  return Math.max(1, Math.floor(limit * Math.min(share, 1)));
}

/** The most writes and the most requests of any run of `span` buckets that holds `bucket`. */
function busiestRunThrough(ledger: Ledger, bucket: number, span: number): Counts {
  const from = bucket - span + 1;
  let writes = 0;
  let requests = 0;
  for (let b = from; b < from + span; b++) {
    const counts = ledger.get(b);
    writes += counts?.writes ?? 0;
    requests += counts?.requests ?? 0;
  }
  let most = { writes, requests };
  // Slide the run one bucket at a time until it starts at `bucket`.
  for (let start = from + 1; start <= bucket; start++) {
    const leaving = ledger.get(start - 1);
    const entering = ledger.get(start + span - 1);
    writes += (entering?.writes ?? 0) - (leaving?.writes ?? 0);
    requests += (entering?.requests ?? 0) - (leaving?.requests ?? 0);
    most = { writes: Math.max(most.writes, writes), requests: Math.max(most.requests, requests) };
  }
  return most;
}

/** How many more requests like this one `bucket` can take. */
export function roomAt(ledger: Ledger, bucket: number, request: BudgetRequest, limits: BudgetLimits, geometry: LedgerGeometry): number {
  const share = limits.shares[request.priority];
  const busiest = busiestRunThrough(ledger, bucket, geometry.span);
  let room = ceilingFor(limits.requestsPerWindow, share) - busiest.requests;
  if (request.kind === 'write') room = Math.min(room, ceilingFor(limits.writesPerWindow, share) - busiest.writes);
  return Math.max(0, room);
}

/** The ledger with `count` more grants like `request` in `bucket`. */
export function record(ledger: Ledger, bucket: number, request: BudgetRequest, count: number): Ledger {
  if (count <= 0) return ledger;
  const next = new Map(ledger);
  const counts = next.get(bucket) ?? { writes: 0, requests: 0 };
  next.set(bucket, { writes: counts.writes + (request.kind === 'write' ? count : 0), requests: counts.requests + count });
  return next;
}

/**
 * The first bucket after `bucket` with room for one more request like this, from what the
 * ledger holds now (grants are only ever added, so room found later can only be later);
 * undefined when the priority may never send.
 */
export function nextRoom(
  ledger: Ledger,
  bucket: number,
  request: BudgetRequest,
  limits: BudgetLimits,
  geometry: LedgerGeometry,
): number | undefined {
  const share = limits.shares[request.priority];
  if (ceilingFor(limits.requestsPerWindow, share) === 0) return undefined;
  if (request.kind === 'write' && ceilingFor(limits.writesPerWindow, share) === 0) return undefined;
  const newest = Math.max(bucket, ...ledger.keys());
  // Past the newest grant's last run every run is empty, so the search ends there.
  for (let b = bucket + 1; b <= newest + geometry.span; b++) {
    if (roomAt(ledger, b, request, limits, geometry) > 0) return b;
  }
  return newest + geometry.span;
}

/** What a writer at `bucket` keeps: nothing older can share a window with a grant still to come. */
export function prune(ledger: Ledger, bucket: number, geometry: LedgerGeometry): Ledger {
  const oldest = bucket - geometry.keep;
  const kept = new Map<number, Counts>();
  for (const [b, counts] of ledger) if (b >= oldest) kept.set(b, counts);
  return kept;
}

/** The newest bucket holding grants, if any. */
export function newestBucket(ledger: Ledger): number | undefined {
  let newest: number | undefined;
  for (const b of ledger.keys()) if (newest === undefined || b > newest) newest = b;
  return newest;
}

/**
 * As stored in one table property: `origin` (the oldest bucket; a string, since bucket indexes
 * of a scaled-down window exceed Int32) and `buckets`, "offset:writes:requests" for each bucket
 * with grants, comma-separated. About a hundred buckets: a couple of kilobytes at most.
 */
export function encodeLedger(ledger: Ledger): { origin: string; buckets: string } {
  const entries = [...ledger.entries()].filter(([, c]) => c.requests > 0).sort(([a], [b]) => a - b);
  const origin = entries[0]?.[0] ?? 0;
  return { origin: String(origin), buckets: entries.map(([b, c]) => `${b - origin}:${c.writes}:${c.requests}`).join(',') };
}

export function decodeLedger(origin: string | undefined, buckets: string | undefined): Ledger {
  const ledger = new Map<number, Counts>();
  const base = Number(origin);
  if (!buckets || !Number.isFinite(base)) return ledger;
  for (const entry of buckets.split(',')) {
    const [offset, writes, requests] = entry.split(':').map(Number);
    if (!Number.isFinite(offset) || !Number.isFinite(writes) || !Number.isFinite(requests)) continue;
    ledger.set(base + offset!, { writes: writes!, requests: requests! });
  }
  return ledger;
}
