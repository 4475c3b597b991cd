import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createInMemoryBudget, retryAfter, type BudgetLimits, type BudgetRequest } from '../../../../shared/adapters/graph/index.js';
import {
  bucketOf,
  ceilingFor,
  decodeLedger,
  encodeLedger,
  ledgerGeometry,
  nextRoom,
  prune,
  record,
  roomAt,
  type Ledger,
} from '../../../../shared/adapters/graph/budget-ledger.js';
import { budgetLimitsFrom, GRAPH_SETTINGS_DEFAULTS } from '../../../../shared/adapters/graph/settings.js';

const limits: BudgetLimits = {
  writesPerWindow: 10,
  requestsPerWindow: 20,
  windowMs: 1000,
  shares: { import: 1, status: 0.5, cleanup: 0.2 },
};
const importWrite: BudgetRequest = { kind: 'write', priority: 'import' };
const importRead: BudgetRequest = { kind: 'read', priority: 'import' };

/** A clock the test sets by hand, in ms since the epoch. */
function fakeClock(start = 5_000): { now: () => Date; set: (t: number) => void } {
  let time = start;
  return { now: () => new Date(time), set: (t) => (time = t) };
}

async function grantsUntilRefused(budget: ReturnType<typeof createInMemoryBudget>, request: BudgetRequest): Promise<number> {
  let granted = 0;
  while ((await budget.acquire(request)).granted) granted++;
  return granted;
}

describe('request budget (in memory)', () => {
  it('grants exactly the limit for writes, then refuses until a whole window has passed since', async () => {
    const clock = fakeClock(5_250);
    const budget = createInMemoryBudget({ limits, now: clock.now });
    expect(await grantsUntilRefused(budget, importWrite)).toBe(10);
    // Buckets are a hundredth of the window: the grants of 5,250 may have been at 5,259.
    expect(await budget.acquire(importWrite)).toEqual({ granted: false, retryAfterMs: 1_010 });
    clock.set(6_259);
    expect((await budget.acquire(importWrite)).granted).toBe(false);
    clock.set(6_260);
    expect(await grantsUntilRefused(budget, importWrite)).toBe(10);
  });

  it('counts in sliding windows: a full window just before a boundary leaves nothing just after it', async () => {
    const clock = fakeClock(5_900);
    const budget = createInMemoryBudget({ limits, now: clock.now });
    expect(await grantsUntilRefused(budget, importWrite)).toBe(10);
    // Fixed windows would start over at 6,000 and let another 10 through within 200 ms.
    clock.set(6_100);
    expect(await budget.acquire(importWrite)).toEqual({ granted: false, retryAfterMs: 810 });
  });

  it('counts writes against the request limit too', async () => {
    const budget = createInMemoryBudget({ limits, now: fakeClock().now });
    expect(await grantsUntilRefused(budget, importWrite)).toBe(10);
    expect(await grantsUntilRefused(budget, importRead)).toBe(10);
  });

  it('keeps the top of each window for imports: lower priorities stop at their share', async () => {
    const budget = createInMemoryBudget({ limits, now: fakeClock().now });
    expect(await grantsUntilRefused(budget, { kind: 'read', priority: 'cleanup' })).toBe(4);
    expect(await grantsUntilRefused(budget, { kind: 'read', priority: 'status' })).toBe(6);
    expect(await grantsUntilRefused(budget, importRead)).toBe(10);
  });

  it('holds every caller back for as long as Graph asked, however long', async () => {
    const clock = fakeClock();
    const budget = createInMemoryBudget({ limits, now: clock.now });
    expect((await budget.acquire(importRead)).granted).toBe(true);
    await budget.reportThrottled(300_000);
    expect(await budget.acquire(importRead)).toEqual({ granted: false, retryAfterMs: 300_000 });
    clock.set(5_000 + 299_999);
    expect(await budget.acquire(importRead)).toEqual({ granted: false, retryAfterMs: 1 });
    clock.set(5_000 + 300_000);
    expect((await budget.acquire(importRead)).granted).toBe(true);
  });

  it('lets one sync through per interval', async () => {
    const clock = fakeClock();
    const budget = createInMemoryBudget({ limits, now: clock.now });
    expect(await budget.claimSync(600_000)).toBeDefined();
    expect(await budget.claimSync(600_000)).toBeUndefined();
    clock.set(clock.now().getTime() + 599_999);
    expect(await budget.claimSync(600_000)).toBeUndefined();
    clock.set(clock.now().getTime() + 1);
    expect(await budget.claimSync(600_000)).toBeDefined();
  });

  it('a released claim lets the next caller sync; a confirmed one counts the interval from the confirmation', async () => {
    const clock = fakeClock();
    const budget = createInMemoryBudget({ limits, now: clock.now });
    await (await budget.claimSync(600_000))!.release();
    const claim = await budget.claimSync(600_000);
    expect(claim).toBeDefined();
    clock.set(5_000 + 3_000);
    await claim!.confirm();
    await claim!.release(); // settled already: changes nothing
    clock.set(5_000 + 600_000);
    expect(await budget.claimSync(600_000)).toBeUndefined();
    clock.set(5_000 + 603_000);
    expect(await budget.claimSync(600_000)).toBeDefined();
  });
});

describe('the headroom', () => {
  it('grants 90% of the documented limits by default', () => {
    expect(budgetLimitsFrom(GRAPH_SETTINGS_DEFAULTS)).toMatchObject({ writesPerWindow: 90, requestsPerWindow: 900 });
    expect(budgetLimitsFrom({ ...GRAPH_SETTINGS_DEFAULTS, writesPerWindow: 8, budgetHeadroom: 0.25 }).writesPerWindow).toBe(6);
    expect(budgetLimitsFrom({ ...GRAPH_SETTINGS_DEFAULTS, budgetHeadroom: 0 }).writesPerWindow).toBe(100);
  });
});

const priorities = ['import', 'status', 'cleanup'] as const;
const anyRequest = fc.record({ kind: fc.constantFrom('read' as const, 'write' as const), priority: fc.constantFrom(...priorities) });

describe('admission (pure)', () => {
  it('never admits more than the ceiling of a priority', () => {
    expect(ceilingFor(100, 0.75)).toBe(75);
    expect(ceilingFor(1, 0.2)).toBe(1);
    expect(ceilingFor(100, 0)).toBe(0);
    const geometry = ledgerGeometry(1000, 0, 0);
    let ledger: Ledger = new Map();
    ledger = record(ledger, 500, importWrite, 9);
    expect(roomAt(ledger, 500, importWrite, limits, geometry)).toBe(1);
    ledger = record(ledger, 520, importWrite, 1);
    expect(roomAt(ledger, 510, importWrite, limits, geometry)).toBe(0);
    expect(roomAt(ledger, 510, importRead, limits, geometry)).toBe(10);
    // 100 buckets later the run holding 620 still holds 520, not 500.
    expect(roomAt(ledger, 600, importWrite, limits, geometry)).toBe(0);
    expect(roomAt(ledger, 601, importWrite, limits, geometry)).toBe(9);
    expect(nextRoom(ledger, 510, importWrite, limits, geometry)).toBe(601);
  });

  it('the guarantee: grants decided on clocks within the tolerance, used within the lease, never exceed the limit in any window of true time', () => {
    const windowMs = 20_000;
    const small: BudgetLimits = { writesPerWindow: 7, requestsPerWindow: 15, windowMs, shares: { import: 1, status: 0.6, cleanup: 0.3 } };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3_000 }),
        fc.integer({ min: 0, max: 3_000 }),
        fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 2, maxLength: 4 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 4_000 }),
            instance: fc.nat(),
            wanted: fc.integer({ min: 1, max: 6 }),
            request: anyRequest,
            uses: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }),
          }),
          { minLength: 1, maxLength: 120 },
        ),
        (toleranceMs, leaseMs, rawOffsets, decisions) => {
          const geometry = ledgerGeometry(windowMs, leaseMs, toleranceMs);
          // Offsets spread over exactly the tolerance: the instances' clocks are that far apart.
          const spread = Math.max(...rawOffsets) - Math.min(...rawOffsets) || 1;
          const offsets = rawOffsets.map((o) => Math.round(((o - Math.min(...rawOffsets)) / spread) * toleranceMs));
          let ledger: Ledger = new Map();
          let trueTime = 1_700_000_000_000;
          const used: { at: number; request: BudgetRequest }[] = [];
          for (const d of decisions) {
            trueTime += d.gap;
            const offset = offsets[d.instance % offsets.length]!;
            const bucket = bucketOf(trueTime + offset, geometry);
            const count = Math.min(d.wanted, roomAt(ledger, bucket, d.request, small, geometry));
            ledger = prune(record(ledger, bucket, d.request, count), bucket, geometry);
            // Each slot is used at any moment of its lease, as the instance's clock reads it.
            for (let i = 0; i < count; i++) used.push({ at: trueTime + d.uses[i]! * leaseMs, request: d.request });
          }
          const busiest = (keep: (r: BudgetRequest) => boolean): number => {
            const times = used
              .filter((u) => keep(u.request))
              .map((u) => u.at)
              .sort((a, b) => a - b);
            let most = 0;
            for (let last = 0, first = 0; last < times.length; last++) {
              while (times[first]! <= times[last]! - windowMs) first++;
              most = Math.max(most, last - first + 1);
            }
            return most;
          };
          expect(busiest(() => true)).toBeLessThanOrEqual(15);
          expect(busiest((r) => r.kind === 'write')).toBeLessThanOrEqual(7);
          expect(busiest((r) => r.priority !== 'import')).toBeLessThanOrEqual(ceilingFor(15, 0.6));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('imports are never starved: whatever lower priorities took, imports keep the rest of every run', () => {
    const geometry = ledgerGeometry(20_000, 1_000, 1_000);
    const wide: BudgetLimits = {
      writesPerWindow: 20,
      requestsPerWindow: 50,
      windowMs: 20_000,
      shares: { import: 1, status: 0.75, cleanup: 0.5 },
    };
    fc.assert(
      fc.property(
        fc.array(fc.record({ bucket: fc.integer({ min: 0, max: 400 }), request: anyRequest, wanted: fc.integer({ min: 1, max: 10 }) }), {
          maxLength: 80,
        }),
        fc.integer({ min: 0, max: 400 }),
        (grants, probe) => {
          let ledger: Ledger = new Map();
          for (const g of grants) {
            if (g.request.priority === 'import') continue;
            ledger = record(ledger, g.bucket, g.request, Math.min(g.wanted, roomAt(ledger, g.bucket, g.request, wide, geometry)));
          }
          expect(roomAt(ledger, probe, importRead, wide, geometry)).toBeGreaterThanOrEqual(50 - ceilingFor(50, 0.75));
          expect(roomAt(ledger, probe, importWrite, wide, geometry)).toBeGreaterThanOrEqual(20 - ceilingFor(20, 0.75));
        },
      ),
    );
  });

  it('the retry time of a refusal is the first bucket with room, and nothing sooner has any', () => {
    const geometry = ledgerGeometry(20_000, 1_000, 500);
    fc.assert(
      fc.property(
        fc.array(fc.record({ bucket: fc.integer({ min: 0, max: 300 }), request: anyRequest, wanted: fc.integer({ min: 1, max: 12 }) }), {
          maxLength: 60,
        }),
        fc.integer({ min: 0, max: 300 }),
        anyRequest,
        (grants, probe, request) => {
          let ledger: Ledger = new Map();
          for (const g of grants)
            ledger = record(ledger, g.bucket, g.request, Math.min(g.wanted, roomAt(ledger, g.bucket, g.request, limits, geometry)));
          const next = nextRoom(ledger, probe, request, limits, geometry)!;
          expect(roomAt(ledger, next, request, limits, geometry)).toBeGreaterThan(0);
          for (let b = probe + 1; b < next; b++) expect(roomAt(ledger, b, request, limits, geometry)).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the stored form reads back as it was written', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.array(
          fc.record({
            offset: fc.integer({ min: 0, max: 200 }),
            writes: fc.integer({ min: 0, max: 50 }),
            extra: fc.integer({ min: 1, max: 50 }),
          }),
        ),
        (origin, entries) => {
          const ledger = new Map(entries.map((e) => [origin + e.offset, { writes: e.writes, requests: e.writes + e.extra }]));
          const stored = encodeLedger(ledger);
          expect(new Map([...decodeLedger(stored.origin, stored.buckets)].sort(([a], [b]) => a - b))).toEqual(
            new Map([...ledger].sort(([a], [b]) => a - b)),
          );
        },
      ),
    );
    expect(decodeLedger(undefined, undefined).size).toBe(0);
    expect(decodeLedger('12', 'nonsense,3:1:2').get(15)).toEqual({ writes: 1, requests: 2 });
  });
});

describe('Retry-After', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads whole and fractional seconds, HTTP dates, and falls back to the default', () => {
    expect(retryAfter('3', 20_000)).toBe(3000);
    expect(retryAfter('0.033', 20_000)).toBe(33);
    expect(retryAfter(null, 20_000)).toBe(20_000);
    expect(retryAfter('soon', 20_000)).toBe(20_000);
    // An HTTP date counts from now: fix now, and the delay is exact.
    vi.useFakeTimers({ now: new Date('2026-03-02T09:00:00.000Z') });
    expect(retryAfter('Mon, 02 Mar 2026 09:00:10 GMT', 20_000)).toBe(10_000);
    vi.setSystemTime(new Date('2026-03-02T09:00:00.250Z'));
    expect(retryAfter('Mon, 02 Mar 2026 09:00:10 GMT', 20_000)).toBe(9_750);
    expect(retryAfter('Mon, 02 Mar 2026 08:59:00 GMT', 20_000)).toBe(0);
  });
});
