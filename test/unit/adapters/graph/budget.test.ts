import { afterEach, describe, expect, it, vi } from 'vitest';
import { createInMemoryBudget, retryAfter, type BudgetLimits, type BudgetRequest } from '../../../../shared/adapters/graph/index.js';
import { admit, ceilingFor } from '../../../../shared/adapters/graph/budget.js';

const limits: BudgetLimits = {
  writesPerWindow: 10,
  requestsPerWindow: 20,
  windowMs: 1000,
  shares: { import: 1, status: 0.5, cleanup: 0.2 },
};

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
  it('grants exactly the window limit for writes, then refuses until the window ends', async () => {
    const clock = fakeClock(5_250);
    const budget = createInMemoryBudget({ limits, now: clock.now });
    expect(await grantsUntilRefused(budget, { kind: 'write', priority: 'import' })).toBe(10);
    expect(await budget.acquire({ kind: 'write', priority: 'import' })).toEqual({ granted: false, retryAfterMs: 750 });
    clock.set(6_000);
    expect(await grantsUntilRefused(budget, { kind: 'write', priority: 'import' })).toBe(10);
  });

  it('counts writes against the request limit too', async () => {
    const budget = createInMemoryBudget({ limits, now: fakeClock().now });
    expect(await grantsUntilRefused(budget, { kind: 'write', priority: 'import' })).toBe(10);
    expect(await grantsUntilRefused(budget, { kind: 'read', priority: 'import' })).toBe(10);
  });

  it('keeps the top of each window for imports: lower priorities stop at their share', async () => {
    const budget = createInMemoryBudget({ limits, now: fakeClock().now });
    expect(await grantsUntilRefused(budget, { kind: 'read', priority: 'cleanup' })).toBe(4);
    expect(await grantsUntilRefused(budget, { kind: 'read', priority: 'status' })).toBe(6);
    expect(await grantsUntilRefused(budget, { kind: 'read', priority: 'import' })).toBe(10);
  });

  it('spends the rest of the window after Graph throttled', async () => {
    const clock = fakeClock();
    const budget = createInMemoryBudget({ limits, now: clock.now });
    expect((await budget.acquire({ kind: 'read', priority: 'import' })).granted).toBe(true);
    await budget.reportThrottled(300);
    expect((await budget.acquire({ kind: 'read', priority: 'import' })).granted).toBe(false);
    clock.set(clock.now().getTime() + 1000);
    expect((await budget.acquire({ kind: 'read', priority: 'import' })).granted).toBe(true);
  });

  it('lets one sync through per interval', async () => {
    const clock = fakeClock();
    const budget = createInMemoryBudget({ limits, now: clock.now });
    expect(await budget.claimSync(600_000)).toBe(true);
    expect(await budget.claimSync(600_000)).toBe(false);
    clock.set(clock.now().getTime() + 599_999);
    expect(await budget.claimSync(600_000)).toBe(false);
    clock.set(clock.now().getTime() + 1);
    expect(await budget.claimSync(600_000)).toBe(true);
  });

  it('never admits more than the ceiling, whatever the counts', () => {
    expect(ceilingFor(100, 0.75)).toBe(75);
    expect(ceilingFor(1, 0.2)).toBe(1);
    expect(ceilingFor(100, 0)).toBe(0);
    expect(admit({ writes: 9, requests: 9 }, { kind: 'write', priority: 'import' }, limits)).toEqual({ writes: 10, requests: 10 });
    expect(admit({ writes: 10, requests: 10 }, { kind: 'write', priority: 'import' }, limits)).toBeUndefined();
    expect(admit({ writes: 10, requests: 10 }, { kind: 'read', priority: 'import' }, limits)).toEqual({ writes: 10, requests: 11 });
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
