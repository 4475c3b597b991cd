import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { startGraphSimulator } from '../../../../local/graph-simulator/index.js';
import {
  createGraphClient,
  createTableBudget,
  GRAPH_SETTINGS_DEFAULTS,
  type BudgetLimits,
  type BudgetRequest,
  type RequestBudget,
} from '../../../../shared/adapters/graph/index.js';
import type { BudgetRow } from '../../../../shared/adapters/graph/table-budget.js';
import { TableStore } from '../../../../shared/adapters/tables/table-store.js';

/**
 * The shared budget in Table Storage (Azurite): separate instances, each with its own
 * table, never grant more than the budget in any window, and only one of them syncs.
 */

const shares = { import: 1, status: 0.5, cleanup: 0.25 };
let tableCounter = 0;

function uniqueTable(): string {
  tableCounter += 1;
  return `graphbudget${process.pid}x${tableCounter}x${Date.now() % 100_000}`;
}

function budgetTable(table: string): TableStore<BudgetRow> {
  return TableStore.connect<BudgetRow>(inject('storageConnectionString'), table);
}

/** A clock the test moves by hand, shared by every "instance". */
function manualClock(start: number): { now: () => number; set: (t: number) => void } {
  let time = start;
  return { now: () => time, set: (t) => (time = t) };
}

/** Concurrent callers on one budget until each has been refused once; returns how many were granted. */
async function hammer(budget: RequestBudget, request: BudgetRequest, callers: number): Promise<number> {
  let granted = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while ((await budget.acquire(request)).granted) granted += 1;
    }),
  );
  return granted;
}

describe('table budget shared by instances', () => {
  it('grants exactly the limit per window across two instances hammering concurrently', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 12, requestsPerWindow: 40, windowMs: 20_000, shares };
    const clock = manualClock(1_700_000_000_000);
    const instanceA = createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) });
    const instanceB = createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) });

    for (let window = 0; window < 3; window++) {
      clock.set(1_700_000_000_000 + window * 20_000 + 5);
      const [a, b] = await Promise.all([
        hammer(instanceA, { kind: 'write', priority: 'import' }, 6),
        hammer(instanceB, { kind: 'write', priority: 'import' }, 6),
      ]);
      expect(a + b).toBe(12);
      const [ra, rb] = await Promise.all([
        hammer(instanceA, { kind: 'read', priority: 'import' }, 6),
        hammer(instanceB, { kind: 'read', priority: 'import' }, 6),
      ]);
      expect(a + b + ra + rb).toBe(40);
    }
  });

  it('keeps lower priorities to their share across instances', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: 20_000, shares };
    const clock = manualClock(1_700_000_000_000);
    const instanceA = createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) });
    const instanceB = createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) });
    const cleanup = await Promise.all([
      hammer(instanceA, { kind: 'read', priority: 'cleanup' }, 4),
      hammer(instanceB, { kind: 'read', priority: 'cleanup' }, 4),
    ]);
    expect(cleanup[0] + cleanup[1]).toBe(10);
    const status = await Promise.all([
      hammer(instanceA, { kind: 'read', priority: 'status' }, 4),
      hammer(instanceB, { kind: 'read', priority: 'status' }, 4),
    ]);
    expect(status[0] + status[1]).toBe(10);
    const imports = await Promise.all([
      hammer(instanceA, { kind: 'read', priority: 'import' }, 4),
      hammer(instanceB, { kind: 'read', priority: 'import' }, 4),
    ]);
    expect(imports[0] + imports[1]).toBe(20);
    const refused = await instanceB.acquire({ kind: 'read', priority: 'import' });
    expect(refused).toEqual({ granted: false, retryAfterMs: 20_000 });
  });

  it('a 429 reported by one instance holds back the other for the rest of the window', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: 20_000, shares };
    const clock = manualClock(1_700_000_000_000);
    const instanceA = createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) });
    const instanceB = createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) });
    expect((await instanceB.acquire({ kind: 'read', priority: 'import' })).granted).toBe(true);
    await instanceA.reportThrottled(5_000);
    expect((await instanceB.acquire({ kind: 'read', priority: 'import' })).granted).toBe(false);
    clock.set(1_700_000_000_000 + 20_000);
    expect((await instanceB.acquire({ kind: 'read', priority: 'import' })).granted).toBe(true);
  });

  it('a longer Retry-After holds back every instance for every window it reaches', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: 20_000, shares };
    const start = 1_700_000_000_000;
    const clock = manualClock(start);
    const instanceA = createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) });
    const instanceB = createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) });
    await instanceA.reportThrottled(45_000);
    for (const offset of [0, 20_000, 40_000]) {
      clock.set(start + offset);
      expect((await instanceB.acquire({ kind: 'read', priority: 'import' })).granted, `at +${offset} ms`).toBe(false);
    }
    clock.set(start + 60_000);
    expect((await instanceB.acquire({ kind: 'read', priority: 'import' })).granted).toBe(true);
  });

  it('lets exactly one instance claim the sync per interval', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: 20_000, shares };
    const clock = manualClock(1_700_000_000_000);
    const instances = Array.from({ length: 3 }, () =>
      createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clock.now()) }),
    );
    const claims = async (): Promise<number> =>
      (await Promise.all(instances.flatMap((b) => [b.claimSync(600_000), b.claimSync(600_000)]))).filter(Boolean).length;
    expect(await claims()).toBe(1);
    clock.set(1_700_000_000_000 + 599_000);
    expect(await claims()).toBe(0);
    clock.set(1_700_000_000_000 + 600_000);
    expect(await claims()).toBe(1);
  });

  it('two app instances hammering the simulator stay under Graph’s limit: no 429, refusals come from the budget', async () => {
    // One clock for the budget and the simulator, moved on by every attempt, so windows fill by
    // the number of requests rather than by how fast this machine sends them. Simulated and
    // budget windows are both 400 ms of it; Graph allows twice the budget, which absorbs
    // requests granted at the very end of one window that arrive in the next.
    let clockMs = 0;
    const sim = await startGraphSimulator({
      token: 't',
      clock: { timeScale: 50, realNow: () => clockMs },
      throttle: { writesPer20s: 100, requestsPer20s: 40, windowSeconds: 20 },
    });
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 20, windowMs: 400, shares };
    const clients = [0, 1].map(() =>
      createGraphClient({
        ...GRAPH_SETTINGS_DEFAULTS,
        baseUrl: sim.baseUrl,
        staticToken: 't',
        budget: createTableBudget({ store: budgetTable(table), limits, now: () => new Date(clockMs) }),
      }),
    );
    onTestFinished(async () => {
      for (const client of clients) client.close();
      await sim.stop();
    });
    // 10 ms an attempt: 40 attempts a window against a budget of 20.
    const attemptMs = 10;
    const outcomes: string[] = [];
    await Promise.all(
      clients.flatMap((client) =>
        Array.from({ length: 5 }, async () => {
          while (clockMs < 1_600) {
            clockMs += attemptMs;
            const result = await client.checkReachable({ priority: 'import' });
            outcomes.push(result.ok ? 'ok' : result.kind === 'throttled' ? `throttled-${result.source}` : result.kind);
          }
        }),
      ),
    );
    const stats = sim.stats();
    expect(stats.throttled).toBe(0);
    expect(outcomes.filter((o) => o === 'ok').length).toBe(stats.total);
    expect(outcomes).toContain('throttled-budget');
    expect(outcomes.filter((o) => o !== 'ok' && o !== 'throttled-budget')).toEqual([]);
    // 1.6 s spans at most 5 budget windows of 20 requests.
    expect(stats.total).toBeLessThanOrEqual(5 * 20);
    expect(stats.total).toBeGreaterThanOrEqual(2 * 20);
  });
});
