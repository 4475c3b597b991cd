import { systemClock, type Clock } from '../../domain/clock.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import type { EntityProps, StoredEntity, TableStore } from '../tables/table-store.js';
import type { BudgetDecision, BudgetPriority, RequestBudget, SyncClaim } from './budget.js';
import {
  bucketOf,
  bucketStart,
  ceilingFor,
  decodeLedger,
  encodeLedger,
  ledgerGeometry,
  newestBucket,
  nextRoom,
  prune,
  record,
  roomAt,
  type BudgetLimits,
  type BudgetRequest,
  type Ledger,
} from './budget-ledger.js';
import { GRAPH_SETTINGS_DEFAULTS } from './settings.js';

/**
 * The budget every instance of the app shares, in one Table Storage partition: one ledger row
 * (the grants of the last window or so, by bucket, and until when Graph asked the app to wait)
 * and one sync row, both ETag-guarded; a conflict means another instance got there first, so
 * the decision is read again and retried.
 *
 * An instance takes slots a few at a time: the callers queued while it was at the table go
 * in one read and one write, with a few spare slots when its recent calls came one after
 * another (the pages of a listing). A slot may be used for the lease time after it was
 * decided and then expires; the ledger counts it over all that time, so the guarantee of
 * budget-ledger.ts holds for leased slots too.
 *
 * The ledger row this instance last read or wrote is kept with its ETag, and a decision
 * starts from it: while no other instance has written since, a lease costs one round trip
 * (the write), not two. A write from a stale copy fails on its ETag and the row is read
 * again, so the copy only ever saves a read, never changes a decision's outcome. A refusal
 * from the copy stands without a read: grants are only added and a hold only lengthens, so
 * the row as stored would refuse too.
 */

const PARTITION = 'graph-budget';
const LEDGER_ROW = 'ledger';
const SYNC_ROW = 'sync';

export type BudgetRow = EntityProps & {
  /** The ledger (see encodeLedger). */
  origin?: string;
  buckets?: string;
  /** Epoch ms, as a string, in the clock of the instance Graph asked to wait. */
  blockedUntil?: string;
  lastSyncAt?: string;
};

export interface TableBudgetOptions {
  /** The budget table (created on first use). */
  store: TableStore<BudgetRow>;
  limits: BudgetLimits;
  now?: Clock;
  /**
   * How far apart the clocks of the instances sharing the table may be, plus the spread of the
   * time a granted request takes to reach Graph; the guarantee holds within it.
   */
  clockToleranceMs?: number;
  /** How long leased slots may be used after they were decided. */
  leaseMs?: number;
  /** Conflicting writes tolerated before giving up on one decision (default 50). */
  maxAttempts?: number;
  /** For the app-wide hold and clocks found beyond the tolerance. */
  log?: Logger;
}

const PRIORITIES: readonly BudgetPriority[] = ['import', 'status', 'cleanup'];
/** Imports first, and within a priority writes (the scarcer slots) before reads. */
const ORDER: readonly BudgetRequest[] = PRIORITIES.flatMap((priority) => [
  { kind: 'write', priority },
  { kind: 'read', priority },
]);
type Key = `${BudgetRequest['kind']}:${BudgetPriority}`;
const keyOf = (request: BudgetRequest): Key => `${request.kind}:${request.priority}`;

interface Waiter {
  request: BudgetRequest;
  resolve: (decision: BudgetDecision) => void;
  reject: (error: unknown) => void;
  tries: number;
}

/** Slots leased for one kind and priority, usable until `expiresAt` (this instance's clock). */
interface Lot {
  request: BudgetRequest;
  left: number;
  expiresAt: number;
}

type Lease =
  | { kind: 'decided'; decidedAt: number; granted: Map<Key, number>; retryAt: Map<Key, number> }
  | { kind: 'held'; until: number }
  | { kind: 'lost' };

const GRANTED: BudgetDecision = { granted: true };
const refused = (waitMs: number): BudgetDecision => ({ granted: false, retryAfterMs: Math.max(1, Math.ceil(waitMs)) });
/** A slot of a write, or of a stricter priority, serves the request too. */
const covers = (lot: BudgetRequest, wanted: BudgetRequest, shares: BudgetLimits['shares']): boolean =>
  (lot.kind === 'write' || wanted.kind === 'read') && shares[lot.priority] <= shares[wanted.priority];
/** A handout slower than this many leases means the table is in trouble: the caller is told to come back. */
const MAX_TRIES = 3;

export function createTableBudget(options: TableBudgetOptions): RequestBudget {
  const { store, limits, log } = options;
  const clock = options.now ?? systemClock;
  const now = (): number => clock().getTime();
  const toleranceMs = options.clockToleranceMs ?? GRAPH_SETTINGS_DEFAULTS.budgetClockToleranceMs;
  const leaseMs = options.leaseMs ?? GRAPH_SETTINGS_DEFAULTS.budgetLeaseMs;
  const maxAttempts = options.maxAttempts ?? 50;
  const geometry = ledgerGeometry(limits.windowMs, leaseMs, toleranceMs);

  let pool: Lot[] = [];
  /** Until when (this clock) no caller is granted anything: Graph's Retry-After, plus the tolerance. */
  let holdUntil = 0;
  /** Refusals the ledger already answered: grants are only added, so room cannot come sooner. */
  const refusedUntil = new Map<Key, number>();
  /** When this instance handed out slots lately, by kind and priority: how many spares to lease. */
  const recent = new Map<Key, number[]>();
  const waiting: Waiter[] = [];
  let pumping = false;
  let clockBeyondTolerance = false;
  /** The ledger row as this instance last read or wrote it. */
  let known: StoredEntity<BudgetRow> | undefined;
  const readLedger = async (): Promise<StoredEntity<BudgetRow> | undefined> => {
    known = await store.get(PARTITION, LEDGER_ROW);
    return known;
  };
  /** Writes the ledger row at the ETag it was read at, and keeps what was written. */
  const writeLedger = async (existing: StoredEntity<BudgetRow> | undefined, row: BudgetRow): Promise<void> => {
    try {
      const etag = existing
        ? await store.update(PARTITION, LEDGER_ROW, row, existing.etag)
        : await store.insert(PARTITION, LEDGER_ROW, row);
      known = { partitionKey: PARTITION, rowKey: LEDGER_ROW, value: row, etag };
    } catch (error) {
      if (isConflict(error)) known = undefined;
      throw error;
    }
  };

  const noteGrant = (request: BudgetRequest, time: number): void => {
    const times = (recent.get(keyOf(request)) ?? []).filter((t) => t > time - leaseMs);
    times.push(time);
    recent.set(keyOf(request), times);
  };

  /** Spares: as many as this instance used in the last lease time, within a twentieth of the ceiling. */
  const spareFor = (request: BudgetRequest, time: number): number => {
    const used = (recent.get(keyOf(request)) ?? []).filter((t) => t > time - leaseMs).length;
    const ceiling = ceilingFor(
      request.kind === 'write' ? limits.writesPerWindow : limits.requestsPerWindow,
      limits.shares[request.priority],
    );
    return Math.min(used, Math.max(1, Math.floor(ceiling / 20)));
  };

  const takeSlot = (request: BudgetRequest, time: number): boolean => {
    pool = pool.filter((lot) => lot.left > 0 && lot.expiresAt > time);
    const lot = pool.find((l) => keyOf(l.request) === keyOf(request)) ?? pool.find((l) => covers(l.request, request, limits.shares));
    if (!lot) return false;
    lot.left -= 1;
    return true;
  };

  /** What this instance can answer without the table, if anything. */
  const decideLocally = (request: BudgetRequest, time: number): BudgetDecision | undefined => {
    if (time < holdUntil) return refused(holdUntil - time);
    if (takeSlot(request, time)) {
      noteGrant(request, time);
      return GRANTED;
    }
    const notBefore = refusedUntil.get(keyOf(request));
    if (notBefore !== undefined && time < notBefore) return refused(notBefore - time);
    return undefined;
  };

  const watchClock = (ledger: Ledger, bucket: number): void => {
    const newest = newestBucket(ledger);
    // A grant decided more than the tolerance ahead of this clock: one of the two clocks is off.
    const aheadBuckets = newest === undefined ? 0 : newest - bucket - 1;
    const beyond = aheadBuckets > geometry.toleranceBuckets;
    if (beyond && !clockBeyondTolerance) {
      log?.warn(
        { event: EVENTS.budgetClockSkew, aheadMs: Math.round(aheadBuckets * geometry.bucketMs), clockToleranceMs: toleranceMs },
        'another instance decided Graph budget slots further ahead of this clock than the tolerance allows',
      );
    }
    clockBeyondTolerance = beyond;
  };

  /** One decision for everything in `demand`: one read, and one write when anything was granted. */
  const lease = async (demand: ReadonlyMap<Key, number>): Promise<Lease> => {
    await store.ensureTable();
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const fromCopy = known !== undefined;
      const existing = known ?? (await readLedger());
      const time = now();
      const stored = existing?.value ?? {};
      const heldUntil = Number(stored.blockedUntil ?? 0) + toleranceMs;
      if (time < heldUntil) return { kind: 'held', until: heldUntil };
      const bucket = bucketOf(time, geometry);
      let ledger = decodeLedger(stored.origin, stored.buckets);
      watchClock(ledger, bucket);
      const granted = new Map<Key, number>();
      let total = 0;
      const grant = (request: BudgetRequest, wanted: number): void => {
        const count = Math.min(wanted, roomAt(ledger, bucket, request, limits, geometry));
        if (count <= 0) return;
        ledger = record(ledger, bucket, request, count);
        granted.set(keyOf(request), (granted.get(keyOf(request)) ?? 0) + count);
        total += count;
      };
      const wanted = ORDER.filter((request) => (demand.get(keyOf(request)) ?? 0) > 0);
      for (const request of wanted) grant(request, demand.get(keyOf(request))!);
      for (const request of wanted) grant(request, spareFor(request, time));
      const retryAt = new Map<Key, number>();
      for (const request of wanted) {
        if ((granted.get(keyOf(request)) ?? 0) >= demand.get(keyOf(request))!) continue;
        const next = nextRoom(ledger, bucket, request, limits, geometry);
        retryAt.set(keyOf(request), next === undefined ? time + limits.windowMs : bucketStart(next, geometry));
      }
      if (total === 0) return { kind: 'decided', decidedAt: time, granted, retryAt };
      const row: BudgetRow = {
        ...encodeLedger(prune(ledger, bucket, geometry)),
        ...(stored.blockedUntil !== undefined ? { blockedUntil: stored.blockedUntil } : {}),
      };
      try {
        await writeLedger(existing, row);
        return { kind: 'decided', decidedAt: time, granted, retryAt };
      } catch (error) {
        if (!isConflict(error)) throw error;
        // A stale copy: someone else wrote since, so the row is read as it is now, at once.
        if (!fromCopy) await pause(attempt);
      }
    }
    return { kind: 'lost' };
  };

  const serve = async (batch: Waiter[]): Promise<void> => {
    const demand = new Map<Key, number>();
    const open: Waiter[] = [];
    const start = now();
    for (const waiter of batch) {
      // A lot leased for earlier callers may have arrived while these waited.
      const decision = decideLocally(waiter.request, start);
      if (decision) {
        waiter.resolve(decision);
        continue;
      }
      open.push(waiter);
      demand.set(keyOf(waiter.request), (demand.get(keyOf(waiter.request)) ?? 0) + 1);
    }
    if (open.length === 0) return;
    const outcome = await lease(demand);
    const time = now();
    if (outcome.kind === 'held') {
      holdUntil = Math.max(holdUntil, outcome.until);
      pool = [];
    }
    if (outcome.kind === 'lost') {
      // Lost every race: so busy that coming back after the others' leases is the right answer anyway.
      for (const waiter of open) waiter.resolve(refused(leaseMs));
      return;
    }
    if (time < holdUntil) {
      for (const waiter of open) waiter.resolve(refused(holdUntil - time));
      return;
    }
    if (outcome.kind !== 'decided') return;
    for (const [key, at] of outcome.retryAt) refusedUntil.set(key, at);
    const expiresAt = outcome.decidedAt + leaseMs;
    if (time >= expiresAt) {
      // The write took longer than the lease: the slots are spent, unused. Try again, a few times.
      for (const waiter of open) {
        if (waiter.tries + 1 < MAX_TRIES) waiting.unshift({ ...waiter, tries: waiter.tries + 1 });
        else waiter.resolve(refused(leaseMs));
      }
      return;
    }
    const left = new Map(outcome.granted);
    for (const waiter of open) {
      const key = keyOf(waiter.request);
      const slots = left.get(key) ?? 0;
      if (slots > 0) {
        left.set(key, slots - 1);
        noteGrant(waiter.request, time);
        waiter.resolve(GRANTED);
      } else {
        waiter.resolve(refused((outcome.retryAt.get(key) ?? time + geometry.bucketMs) - time));
      }
    }
    for (const request of ORDER) {
      const slots = left.get(keyOf(request)) ?? 0;
      if (slots > 0) pool.push({ request, left: slots, expiresAt });
    }
  };

  const pump = async (): Promise<void> => {
    try {
      while (waiting.length > 0) {
        const batch = waiting.splice(0);
        try {
          await serve(batch);
        } catch (error) {
          for (const waiter of batch) waiter.reject(error);
        }
      }
    } finally {
      pumping = false;
    }
  };

  const enqueue = (request: BudgetRequest): Promise<BudgetDecision> =>
    new Promise((resolve, reject) => {
      waiting.push({ request, resolve, reject, tries: 0 });
      if (pumping) return;
      pumping = true;
      // After the current turn, so callers arriving together share the first round trip.
      queueMicrotask(() => void pump());
    });

  return {
    async acquire(request) {
      return decideLocally(request, now()) ?? enqueue(request);
    },

    async reportThrottled(retryAfterMs) {
      const time = now();
      const until = time + retryAfterMs;
      holdUntil = Math.max(holdUntil, until + toleranceMs);
      pool = [];
      await store.ensureTable();
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        // Read afresh: a hold some other instance already stored is left as it is.
        const existing = await readLedger();
        const stored = existing?.value ?? {};
        if (Number(stored.blockedUntil ?? 0) >= until) return;
        const row: BudgetRow = { ...stored, blockedUntil: String(until) };
        try {
          await writeLedger(existing, row);
          log?.info(
            { event: EVENTS.graphHold, retryAfterMs, until: new Date(until).toISOString() },
            'Graph asked the app to wait: no instance sends until then',
          );
          return;
        } catch (error) {
          if (!isConflict(error)) throw error;
          await pause(attempt);
        }
      }
    },

    async claimSync(intervalMs) {
      await store.ensureTable();
      const time = now();
      const existing = await store.get(PARTITION, SYNC_ROW);
      const previous = existing?.value.lastSyncAt;
      if (existing && time - Number(previous) < intervalMs) return undefined;
      let etag: string;
      try {
        etag = existing
          ? await store.update(PARTITION, SYNC_ROW, { lastSyncAt: String(time) }, existing.etag)
          : await store.insert(PARTITION, SYNC_ROW, { lastSyncAt: String(time) });
      } catch (error) {
        // Someone else claimed it between our read and write: their sync counts for us.
        if (isConflict(error)) return undefined;
        throw error;
      }
      return syncClaim(store, etag, previous, now);
    },
  };
}

/**
 * Settled once, ETag-guarded: if another caller has claimed the sync since (the interval
 * passed), their claim stands and this one changes nothing.
 */
function syncClaim(store: TableStore<BudgetRow>, etag: string, previous: string | undefined, now: () => number): SyncClaim {
  let settled = false;
  const settle = async (row: BudgetRow | undefined): Promise<void> => {
    if (settled) return;
    settled = true;
    try {
      if (row) await store.update(PARTITION, SYNC_ROW, row, etag);
      else await store.delete(PARTITION, SYNC_ROW, etag);
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  };
  return {
    confirm: () => settle({ lastSyncAt: String(now()) }),
    release: () => settle(previous === undefined ? undefined : { lastSyncAt: previous }),
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
