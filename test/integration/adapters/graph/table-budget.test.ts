import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { startGraphSimulator, type GraphSimulator } from '../../../../local/graph-simulator/index.js';
import {
  createGraphClient,
  createTableBudget,
  GRAPH_SETTINGS_DEFAULTS,
  type BudgetLimits,
  type BudgetRequest,
  type GraphClient,
  type RequestBudget,
} from '../../../../shared/adapters/graph/index.js';
import type { BudgetRow } from '../../../../shared/adapters/graph/table-budget.js';
import { TableStore } from '../../../../shared/adapters/tables/table-store.js';
import type { Logger } from '../../../../shared/log.js';
import { captureLogger } from '../../../support/stack.js';

/**
 * The shared budget in Table Storage (Azurite): separate instances on one table, each with its
 * own client and clock. What Graph sees is checked in true time (the test's clock), while each
 * instance reads that time through its own offset, as a host with a skewed clock would.
 */

const WINDOW = 20_000;
const TOLERANCE = 1_000;
const LEASE = 1_000;
const START = 1_700_000_007_357; // not on a window boundary
const shares = { import: 1, status: 0.5, cleanup: 0.25 };
const importRead: BudgetRequest = { kind: 'read', priority: 'import' };
const importWrite: BudgetRequest = { kind: 'write', priority: 'import' };
let tableCounter = 0;

function uniqueTable(): string {
  tableCounter += 1;
  return `graphbudget${process.pid}x${tableCounter}x${Date.now() % 100_000}`;
}

/** True time, moved by the test and by every Table round trip it is told takes time. */
class TrueClock {
  constructor(public ms: number) {}
  advance(ms: number): void {
    this.ms += ms;
  }
  /** Moves forward to `ms`, never back. */
  reach(ms: number): void {
    this.ms = Math.max(this.ms, ms);
  }
}

interface Instance {
  budget: RequestBudget;
  /** Table Storage requests this instance has sent (HTTP, counted on its own client). */
  tableRequests: () => number;
  offsetMs: number;
}

function instance(
  table: string,
  limits: BudgetLimits,
  clock: TrueClock,
  offsetMs = 0,
  roundTripMs: () => number = () => 0,
  log?: Logger,
): Instance {
  const store = TableStore.connect<BudgetRow>(inject('storageConnectionString'), table);
  let requests = 0;
  store.client.pipeline.addPolicy({
    name: 'count-and-take-time',
    async sendRequest(request, next) {
      requests += 1;
      const response = await next(request);
      clock.advance(roundTripMs());
      return response;
    },
  });
  const budget = createTableBudget({
    store,
    limits,
    now: () => new Date(clock.ms + offsetMs),
    clockToleranceMs: TOLERANCE,
    leaseMs: LEASE,
    ...(log ? { log } : {}),
  });
  return { budget, tableRequests: () => requests, offsetMs };
}

/** A small seeded generator, so a failing run can be repeated. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The most grants in any interval of `windowMs`, aligned or not (half-open: [t, t + windowMs)). */
function busiest(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while (sorted[first]! <= sorted[last]! - windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
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

describe('the guarantee: no 20 s interval sees more than the budget, across instances', () => {
  it('three instances with clocks up to the tolerance apart, callers arriving at random and retrying at Retry-After', async () => {
    const limits: BudgetLimits = { writesPerWindow: 12, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const table = uniqueTable();
    const clock = new TrueClock(START);
    const random = seeded(20_260_302);
    // Every Table request takes 2-30 ms of true time, so leases are handed out later than decided.
    const roundTrip = (): number => 2 + Math.floor(random() * 28);
    const instances = [0, TOLERANCE, TOLERANCE / 2].map((offset) => instance(table, limits, clock, offset, roundTrip));

    interface Caller {
      at: number;
      instance: number;
      request: BudgetRequest;
      refusals: number;
    }
    const kinds: BudgetRequest[] = [
      importWrite,
      importRead,
      { kind: 'write', priority: 'status' },
      { kind: 'read', priority: 'status' },
      { kind: 'read', priority: 'cleanup' },
    ];
    // Twice the write budget and about twice the request budget arrive, some of it in bursts.
    const duration = 6 * WINDOW;
    const callers: Caller[] = [];
    for (let i = 0; i < 400; i++) {
      const at = START + Math.floor(random() * duration);
      const burst = random() < 0.1 ? 6 : 1;
      const request = kinds[Math.floor(random() * kinds.length)]!;
      const who = Math.floor(random() * instances.length);
      for (let j = 0; j < burst; j++) callers.push({ at, instance: who, request, refusals: 0 });
    }

    const grants: { at: number; request: BudgetRequest }[] = [];
    while (callers.length > 0) {
      callers.sort((a, b) => a.at - b.at);
      clock.reach(callers[0]!.at);
      // Everything due within the next 50 ms goes at once: instances see concurrent callers.
      const due = callers.filter((caller) => caller.at <= clock.ms + 50);
      callers.splice(0, due.length);
      await Promise.all(
        due.map(async (caller) => {
          const decision = await instances[caller.instance]!.budget.acquire(caller.request);
          if (decision.granted) {
            grants.push({ at: clock.ms, request: caller.request });
          } else if (caller.refusals < 3) {
            callers.push({ ...caller, at: clock.ms + decision.retryAfterMs, refusals: caller.refusals + 1 });
          }
        }),
      );
    }

    const times = (keep: (request: BudgetRequest) => boolean): number[] => grants.filter((g) => keep(g.request)).map((g) => g.at);
    expect(
      busiest(
        times(() => true),
        WINDOW,
      ),
      'requests in the busiest 20 s',
    ).toBeLessThanOrEqual(40);
    expect(
      busiest(
        times((r) => r.kind === 'write'),
        WINDOW,
      ),
      'writes in the busiest 20 s',
    ).toBeLessThanOrEqual(12);
    // Status and clean-up together never reach into what imports keep (status share 0.5).
    expect(
      busiest(
        times((r) => r.priority !== 'import'),
        WINDOW,
      ),
      'non-import requests',
    ).toBeLessThanOrEqual(20);
    expect(
      busiest(
        times((r) => r.priority !== 'import' && r.kind === 'write'),
        WINDOW,
      ),
      'non-import writes',
    ).toBeLessThanOrEqual(6);
    // And the budget is used, not just withheld: at least two thirds of the writes six windows allow.
    expect(times((r) => r.kind === 'write').length).toBeGreaterThanOrEqual((2 / 3) * 6 * 12);
    expect(times((r) => r.priority === 'import').length).toBeGreaterThan(0);
  });

  it('two instances draining the budget at one moment grant exactly the limit, and keep lower priorities to their share', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const [a, b] = [instance(table, limits, clock), instance(table, limits, clock, TOLERANCE)];
    const cleanup = await Promise.all([
      hammer(a!.budget, { kind: 'read', priority: 'cleanup' }, 4),
      hammer(b!.budget, { kind: 'read', priority: 'cleanup' }, 4),
    ]);
    expect(cleanup[0] + cleanup[1]).toBe(10);
    const status = await Promise.all([
      hammer(a!.budget, { kind: 'read', priority: 'status' }, 4),
      hammer(b!.budget, { kind: 'read', priority: 'status' }, 4),
    ]);
    expect(status[0] + status[1]).toBe(10);
    const writes = await Promise.all([hammer(a!.budget, importWrite, 4), hammer(b!.budget, importWrite, 4)]);
    expect(writes[0] + writes[1]).toBe(10);
    const reads = await Promise.all([hammer(a!.budget, importRead, 4), hammer(b!.budget, importRead, 4)]);
    expect(reads[0] + reads[1]).toBe(10);
    const refused = await b!.budget.acquire(importRead);
    expect(refused.granted).toBe(false);
  });
});

describe('Retry-After holds the whole app for as long as Graph asks', () => {
  it('300 s reported by one instance (longer than the 7 windows that used to be the cap) refuses every instance until it has passed', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const all = [0, TOLERANCE, TOLERANCE / 2].map((offset) => instance(table, limits, clock, offset));
    expect((await all[1]!.budget.acquire(importRead)).granted).toBe(true);
    await all[0]!.budget.reportThrottled(300_000);
    // The hold ends, in each instance's clock, a tolerance after the reporter's clock says it does:
    // in true time never before Graph's 300 s have passed, and at most a tolerance after.
    const holdEnds = START + 300_000 + TOLERANCE;
    for (const after of [0, 1_000, 139_000, 141_000, 200_000, 299_000, 299_999]) {
      clock.ms = START + after;
      for (const each of all) {
        const decision = await each.budget.acquire(importRead);
        expect(decision.granted, `granted at +${after} ms, clock offset ${each.offsetMs} ms`).toBe(false);
        expect(decision, `+${after} ms, clock offset ${each.offsetMs} ms`).toEqual({
          granted: false,
          retryAfterMs: holdEnds - (clock.ms + each.offsetMs),
        });
      }
    }
    clock.ms = holdEnds;
    for (const each of all) expect((await each.budget.acquire(importRead)).granted).toBe(true);
  });
});

describe('events', () => {
  it('graph.hold once when a hold starts or grows, not for a shorter Retry-After within it', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const { log, lines } = captureLogger();
    const [a, b] = [instance(table, limits, clock, 0, undefined, log), instance(table, limits, clock, 0, undefined, log)];
    await a!.budget.reportThrottled(300_000);
    await b!.budget.reportThrottled(100_000);
    clock.ms = START + 10_000;
    await b!.budget.reportThrottled(400_000);
    expect(lines.filter((line) => line.event === 'graph.hold').map(({ retryAfterMs, until }) => ({ retryAfterMs, until }))).toEqual([
      { retryAfterMs: 300_000, until: new Date(START + 300_000).toISOString() },
      { retryAfterMs: 400_000, until: new Date(START + 410_000).toISOString() },
    ]);
  });

  it('graph.budget-clock-skew once when another instance decides further ahead than the tolerance', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const { log, lines } = captureLogger();
    const ahead = instance(table, limits, clock, 5_000);
    const behind = instance(table, limits, clock, 0, undefined, log);
    const within = instance(table, limits, clock, TOLERANCE, undefined, log);
    expect((await within.budget.acquire(importWrite)).granted).toBe(true);
    expect((await behind.budget.acquire(importWrite)).granted).toBe(true);
    expect(lines.filter((line) => line.event === 'graph.budget-clock-skew')).toEqual([]);
    expect((await ahead.budget.acquire(importWrite)).granted).toBe(true);
    // Round trips of their own (the lease of one read each runs out), all seeing the same skew.
    for (let i = 0; i < 4; i++) {
      clock.advance(300);
      expect((await behind.budget.acquire(importRead)).granted).toBe(true);
    }
    const warnings = lines.filter((line) => line.event === 'graph.budget-clock-skew');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn', clockToleranceMs: TOLERANCE });
    expect(warnings[0]!.aheadMs).toBeGreaterThan(TOLERANCE);
  });
});

/** A stand-in for Graph that answers every request with `status` and Retry-After: 300. */
async function askingToWait(status: 429 | 503): Promise<string> {
  const server = http.createServer((_req, res) => {
    const code = status === 429 ? 'TooManyRequests' : 'ServiceUnavailable';
    res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '300' });
    res.end(JSON.stringify({ error: { code, message: 'Try again later.' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function clientOf(baseUrl: string, budget: RequestBudget, token = 't'): GraphClient {
  const client = createGraphClient({ ...GRAPH_SETTINGS_DEFAULTS, baseUrl, staticToken: token, budget });
  onTestFinished(() => client.close());
  return client;
}

async function simulator(options: Partial<Parameters<typeof startGraphSimulator>[0]> = {}): Promise<GraphSimulator> {
  const sim = await startGraphSimulator({ token: 't', clock: { timeScale: 1, realNow: () => 0 }, ...options });
  onTestFinished(() => sim.stop());
  return sim;
}

describe('Retry-After through the real client', () => {
  it.each([429, 503] as const)('a %i with Retry-After: 300 holds back another instance for 300 s', async (status) => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const [a, b] = [instance(table, limits, clock), instance(table, limits, clock)];
    const sim = await simulator();
    const asked = clientOf(await askingToWait(status), a!.budget);
    const other = clientOf(sim.baseUrl, b!.budget);

    const answer = await asked.checkReachable();
    expect(answer).toMatchObject(
      status === 429
        ? { ok: false, kind: 'throttled', source: 'graph', retryAfterMs: 300_000 }
        : { ok: false, kind: 'transient', status: 503, retryAfterMs: 300_000 },
    );
    clock.ms = START + 200_000;
    expect(await other.checkReachable()).toEqual({ ok: false, kind: 'throttled', source: 'budget', retryAfterMs: 100_000 + TOLERANCE });
    expect(sim.stats().total).toBe(0);
    clock.ms = START + 300_000 + TOLERANCE;
    expect((await other.checkReachable()).ok).toBe(true);
  });

  it("the simulator's 429 holds back every instance until its Retry-After has passed", async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const [a, b] = [instance(table, limits, clock), instance(table, limits, clock)];
    const sim = await simulator({ throttle: { requestsPer20s: 1 } });
    // Just after the start of a simulated window, so Graph asks for the rest of it: 19.99 s.
    sim.clock.advance((20_000 - (sim.clock.now() % 20_000)) / 1000 + 0.01);
    const first = clientOf(sim.baseUrl, a!.budget);
    const second = clientOf(sim.baseUrl, b!.budget);
    expect((await first.checkReachable()).ok).toBe(true);
    expect(await first.checkReachable()).toEqual({ ok: false, kind: 'throttled', source: 'graph', retryAfterMs: 19_990 });
    expect(await second.checkReachable()).toEqual({ ok: false, kind: 'throttled', source: 'budget', retryAfterMs: 19_990 + TOLERANCE });
    expect(sim.stats().total).toBe(2);
    clock.ms = START + 19_990 + TOLERANCE;
    sim.clock.advance(20);
    expect((await second.checkReachable()).ok).toBe(true);
  });
});

describe('the sync claim', () => {
  it('lets exactly one instance claim the sync per interval', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const instances = Array.from({ length: 3 }, () => instance(table, limits, clock));
    const claims = async (): Promise<number> =>
      (await Promise.all(instances.flatMap(({ budget }) => [budget.claimSync(600_000), budget.claimSync(600_000)]))).filter(Boolean).length;
    expect(await claims()).toBe(1);
    clock.ms = START + 599_000;
    expect(await claims()).toBe(0);
    clock.ms = START + 600_000;
    expect(await claims()).toBe(1);
  });

  it('a sync the budget refuses leaves the claim to the next caller', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 2, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const [a, b] = [instance(table, limits, clock), instance(table, limits, clock)];
    const sim = await simulator();
    expect(await hammer(a!.budget, importWrite, 1)).toBe(2);
    expect(await clientOf(sim.baseUrl, a!.budget).syncAutopilot()).toMatchObject({ ok: false, kind: 'throttled', source: 'budget' });
    expect(sim.stats().total).toBe(0);
    // Once the writes are free again, the other instance syncs: nothing was sent, so nothing waits 10 minutes.
    clock.ms = START + 2 * WINDOW;
    expect(await clientOf(sim.baseUrl, b!.budget).syncAutopilot()).toEqual({ ok: true, value: 'synced' });
  });

  it('a sync that could not be sent (connection refused) leaves the claim to the next caller', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const [a, b] = [instance(table, limits, clock), instance(table, limits, clock)];
    const sim = await simulator();
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await clientOf(`http://127.0.0.1:${port}`, a!.budget).syncAutopilot()).toMatchObject({ ok: false, kind: 'transient' });
    expect(await clientOf(sim.baseUrl, b!.budget).syncAutopilot()).toEqual({ ok: true, value: 'synced' });
  });

  it('a sync Graph received keeps the claim, even when it failed', async () => {
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 40, windowMs: WINDOW, shares };
    const clock = new TrueClock(START);
    const [a, b] = [instance(table, limits, clock), instance(table, limits, clock)];
    const sim = await simulator({ faults: { errorRate5xx: 1 } });
    expect(await clientOf(sim.baseUrl, a!.budget).syncAutopilot()).toMatchObject({ ok: false, kind: 'transient' });
    sim.setFaults({ errorRate5xx: 0 });
    expect(await clientOf(sim.baseUrl, b!.budget).syncAutopilot()).toEqual({ ok: true, value: 'coalesced' });
    expect(sim.stats().total).toBe(1);
  });
});

describe('Table round trips', () => {
  const roomy: BudgetLimits = { writesPerWindow: 100, requestsPerWindow: 1000, windowMs: WINDOW, shares };

  it('a burst of 40 concurrent calls on one instance costs a few round trips, not two each', async () => {
    const clock = new TrueClock(START);
    const one = instance(uniqueTable(), roomy, clock);
    const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => one.budget.acquire(i % 4 === 0 ? importWrite : importRead)));
    expect(decisions.every((d) => d.granted)).toBe(true);
    // One read and one write for all of them, and one request to create the table; a read and
    // a write per call would be 81.
    expect(one.tableRequests()).toBeLessThanOrEqual(3);
  });

  it('a listing of 11 pages, one after the other, costs fewer round trips than pages', async () => {
    const clock = new TrueClock(START);
    const one = instance(uniqueTable(), roomy, clock);
    for (let page = 0; page < 11; page++) {
      expect((await one.budget.acquire({ kind: 'read', priority: 'status' })).granted).toBe(true);
      clock.advance(50);
    }
    // Leases of 1, 2, 4 and 8 slots as the pages keep coming: 4 reads and 4 writes, not 11 of each.
    expect(one.tableRequests()).toBeLessThanOrEqual(9);
  });

  it('calls further apart than the lease cost one round trip each: the write, from the ledger as last written', async () => {
    const clock = new TrueClock(START);
    const one = instance(uniqueTable(), roomy, clock);
    for (let call = 0; call < 10; call++) {
      expect((await one.budget.acquire(importWrite)).granted).toBe(true);
      clock.advance(LEASE + 1);
    }
    // The table created, the ledger read once, then one write per lease; a read and a write each would be 21.
    expect(one.tableRequests()).toBeLessThanOrEqual(12);
  });

  it("a copy of the ledger gone stale never grants past another instance's grants", async () => {
    const clock = new TrueClock(START);
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 4, requestsPerWindow: 1000, windowMs: WINDOW, shares };
    const a = instance(table, limits, clock);
    const b = instance(table, limits, clock);
    expect((await a.budget.acquire(importWrite)).granted).toBe(true);
    clock.advance(LEASE + 1);
    // B takes the rest of the window; A's copy still shows one grant.
    expect(await hammer(b.budget, importWrite, 3)).toBe(3);
    clock.advance(LEASE + 1);
    expect((await a.budget.acquire(importWrite)).granted).toBe(false);
  });

  it('once the budget is spent, refusals are answered without going back to the table', async () => {
    const clock = new TrueClock(START);
    const limits: BudgetLimits = { writesPerWindow: 4, requestsPerWindow: 1000, windowMs: WINDOW, shares };
    const one = instance(uniqueTable(), limits, clock);
    expect(await hammer(one.budget, importWrite, 1)).toBe(4);
    const before = one.tableRequests();
    for (let i = 0; i < 20; i++) {
      expect((await one.budget.acquire(importWrite)).granted).toBe(false);
      clock.advance(100);
    }
    expect(one.tableRequests() - before).toBeLessThanOrEqual(2);
  });
});

describe('against the simulator', () => {
  it('two app instances hammering a simulator that allows exactly the budget: no 429, refusals come from the budget', async () => {
    // One clock for the budgets and the simulator, moved on 10 ms between rounds of attempts, so
    // windows fill by the number of requests rather than by how fast this machine sends them.
    // Simulated and budget windows are both 400 ms of it, and Graph allows no more than the
    // budget: slots leased in one round and used in a later one are what the lease time covers.
    let clockMs = 0;
    const sim = await startGraphSimulator({
      token: 't',
      clock: { timeScale: 50, realNow: () => clockMs },
      throttle: { writesPer20s: 100, requestsPer20s: 20, windowSeconds: 20 },
    });
    onTestFinished(() => sim.stop());
    const table = uniqueTable();
    const limits: BudgetLimits = { writesPerWindow: 10, requestsPerWindow: 20, windowMs: 400, shares };
    const clients = [0, 1].map(() =>
      clientOf(
        sim.baseUrl,
        createTableBudget({
          store: TableStore.connect<BudgetRow>(inject('storageConnectionString'), table),
          limits,
          now: () => new Date(clockMs),
          clockToleranceMs: 20,
          leaseMs: 20,
        }),
      ),
    );
    // Five callers an instance, every 10 ms: 200 attempts a window against a budget of 20.
    const outcomes: string[] = [];
    for (; clockMs < 1_600; clockMs += 10) {
      await Promise.all(
        clients.flatMap((client) =>
          Array.from({ length: 5 }, async () => {
            const result = await client.checkReachable({ priority: 'import' });
            outcomes.push(result.ok ? 'ok' : result.kind === 'throttled' ? `throttled-${result.source}` : result.kind);
          }),
        ),
      );
    }
    const stats = sim.stats();
    expect(stats.throttled).toBe(0);
    expect(outcomes.filter((o) => o === 'ok').length).toBe(stats.total);
    expect(outcomes).toContain('throttled-budget');
    expect(outcomes.filter((o) => o !== 'ok' && o !== 'throttled-budget')).toEqual([]);
    // 1.6 s spans at most 5 windows of 20 requests; the budget's margins (a window of grants
    // stretched by the lease and the tolerance: 444 ms) leave at least three of them.
    expect(stats.total).toBeLessThanOrEqual(5 * 20);
    expect(stats.total).toBeGreaterThanOrEqual(3 * 20);
  });
});
