import { describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  makeTestHardwareHash,
  startGraphSimulator,
  type GraphSimulator,
  type GraphSimulatorOptions,
} from '../../../../local/graph-simulator/index.js';
import {
  createGraphClient,
  createInMemoryBudget,
  GRAPH_SETTINGS_DEFAULTS,
  type BudgetLimits,
  type GraphClient,
  type GraphClientOptions,
  type RequestBudget,
} from '../../../../shared/adapters/graph/index.js';

/** Throttling, transient faults and permanent errors as typed results — and no hidden retries. */

const TOKEN = 'throttle-test-token';
const shares = { import: 1, status: 0.75, cleanup: 0.5 };
const roomy: BudgetLimits = { writesPerWindow: 1000, requestsPerWindow: 10_000, windowMs: 20_000, shares };

async function setup(
  simOptions: Partial<GraphSimulatorOptions>,
  clientOptions: Partial<GraphClientOptions> = {},
): Promise<{ sim: GraphSimulator; graph: GraphClient }> {
  const sim = await startGraphSimulator({ token: TOKEN, clock: { timeScale: 1 }, ...simOptions });
  const graph = createGraphClient({
    ...GRAPH_SETTINGS_DEFAULTS,
    baseUrl: sim.baseUrl,
    staticToken: TOKEN,
    budget: createInMemoryBudget({ limits: roomy }),
    ...clientOptions,
  });
  onTestFinished(async () => {
    graph.close();
    await sim.stop();
  });
  return { sim, graph };
}

/** Moves the simulated clock to just after the start of a 20-second window. */
function alignToWindow(sim: GraphSimulator): void {
  sim.clock.advance((20_000 - (sim.clock.now() % 20_000)) / 1000 + 0.01);
}

const device = (serialNumber: string) => ({ serialNumber, hardwareIdentifier: makeTestHardwareHash({ serialNumber }) });

describe('throttling', () => {
  it('returns Graph’s 429 as throttled with the Retry-After delay, sending the throttled request once', async () => {
    // Real time frozen: the simulated clock moves only when told, so the window's rest is exact.
    const { sim, graph } = await setup({ clock: { timeScale: 1, realNow: () => 0 }, throttle: { writesPer20s: 2 } });
    const { id } = sim.addAutopilotIdentity({ serialNumber: 'T-1' });
    alignToWindow(sim);
    for (let i = 0; i < 2; i++) expect((await graph.updateDeviceProperties(id, { displayName: `n${i}` })).ok).toBe(true);
    const throttled = await graph.updateDeviceProperties(id, { displayName: 'n3' });
    expect(throttled).toMatchObject({ ok: false, kind: 'throttled', source: 'graph' });
    const delay = throttled.ok ? 0 : throttled.kind === 'throttled' ? throttled.retryAfterMs : 0;
    // 20 s less the 10 ms alignToWindow leaves behind the window's start.
    expect(delay).toBe(19_990);
    expect(sim.stats().byRouteAndStatus['POST windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties']).toEqual({
      '204': 2,
      '429': 1,
    });
  });

  it('uses the default delay when Retry-After is missing', async () => {
    const { sim, graph } = await setup(
      { throttle: { requestsPer20s: 1 }, faults: { omitRetryAfterRate: 1 } },
      { defaultRetryAfterMs: 12_345 },
    );
    alignToWindow(sim);
    await graph.checkReachable();
    expect(await graph.checkReachable()).toEqual({ ok: false, kind: 'throttled', retryAfterMs: 12_345, source: 'graph' });
  });

  it('passes a fractional Retry-After from a fast clock through as real milliseconds', async () => {
    // At 600x a window lasts 33 real ms, shorter than a request on a busy machine: freeze real time.
    const { sim, graph } = await setup({ clock: { timeScale: 600, realNow: () => 0 }, throttle: { requestsPer20s: 1 } });
    alignToWindow(sim);
    expect((await graph.checkReachable()).ok).toBe(true);
    const throttled = await graph.checkReachable();
    // Retry-After: 0.034 (19.99 simulated seconds at 600x, rounded up to the millisecond).
    expect(throttled).toEqual({ ok: false, kind: 'throttled', retryAfterMs: 34, source: 'graph' });
  });

  it('refuses locally once the budget is spent, without sending anything', async () => {
    const budget = createInMemoryBudget({ limits: { ...roomy, writesPerWindow: 2 } });
    const { sim, graph } = await setup({}, { budget });
    const { id } = sim.addAutopilotIdentity({ serialNumber: 'B-1' });
    sim.resetRequestLog();
    await graph.updateDeviceProperties(id, { displayName: 'a' });
    await graph.updateDeviceProperties(id, { displayName: 'b' });
    const refused = await graph.updateDeviceProperties(id, { displayName: 'c' });
    expect(refused).toMatchObject({ ok: false, kind: 'throttled', source: 'budget' });
    expect(sim.stats().total).toBe(2);
    expect((await graph.checkReachable()).ok).toBe(true);
  });

  it('after a 429 the budget holds every caller back until its Retry-After has passed', async () => {
    const { sim, graph } = await setup({ throttle: { requestsPer20s: 1 } });
    alignToWindow(sim);
    await graph.checkReachable();
    expect(await graph.checkReachable()).toMatchObject({ kind: 'throttled', source: 'graph' });
    expect(await graph.checkReachable()).toMatchObject({ kind: 'throttled', source: 'budget' });
    expect(sim.stats().total).toBe(2);
  });
});

describe('transient faults', () => {
  it('never retries a POST that failed with 5xx, and says its rows may have been imported', async () => {
    const { sim, graph } = await setup({ faults: { errorRate5xx: 1 } });
    const result = await graph.importDevices([device('F-1'), device('F-1B')]);
    expect(result).toMatchObject({
      ok: false,
      kind: 'transient',
      imported: [],
      // A 5xx after the request left: nobody knows whether Autopilot took it.
      inDoubt: [expect.objectContaining({ serialNumber: 'F-1' }), expect.objectContaining({ serialNumber: 'F-1B' })],
      notSubmitted: [],
    });
    expect(result.ok ? 0 : 'status' in result ? result.status : 0).toBeGreaterThanOrEqual(500);
    expect(sim.stats().total).toBe(1);
  });

  it('reports a dropped connection as transient, even when the import did happen', async () => {
    const { sim, graph } = await setup({ faults: { dropAfterEffectRate: 1 } });
    expect(await graph.importDevices([device('F-2')])).toMatchObject({ ok: false, kind: 'transient' });
    expect(sim.importedRecords().map((r) => r.serialNumber)).toEqual(['F-2']);
    expect(sim.stats().total).toBe(1);
  });

  it('gives up after the request timeout', async () => {
    // The simulator would answer 200 after its delay: a transient result proves the client left first.
    const { sim, graph } = await setup({ faults: { delayMs: 1_000 } }, { requestTimeoutMs: 150 });
    const result = await graph.checkReachable();
    expect(result).toMatchObject({ ok: false, kind: 'transient' });
    expect(result.ok ? '' : 'message' in result ? result.message : '').toContain('no answer within 150 ms');
    // When the simulator was ready to answer, the client had already hung up.
    await vi.waitFor(() => expect(sim.stats().total).toBe(1), { timeout: 10_000 });
    expect(sim.requestLog()).toEqual([expect.objectContaining({ method: 'GET', status: 0, fault: 'delay' })]);
  });

  it('stops a chunked import at the first failed chunk and says what was and was not submitted', async () => {
    const budget = createInMemoryBudget({ limits: { ...roomy, writesPerWindow: 2 } });
    const { graph } = await setup({}, { budget, importChunkSize: 2 });
    const devices = ['C-1', 'C-2', 'C-3', 'C-4', 'C-5'].map(device);
    const result = await graph.importDevices(devices);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.kind).toBe('throttled');
    expect(result.imported.map((r) => r.serialNumber)).toEqual(['C-1', 'C-2', 'C-3', 'C-4']);
    // The budget refused the third request before it left: certainly not imported.
    expect(result.notSubmitted.map((d) => d.serialNumber)).toEqual(['C-5']);
    expect(result.inDoubt).toEqual([]);
  });

  it('does not send an import that cannot leave within its window once the budget admits it', async () => {
    const { sim, graph } = await setup({});
    const result = await graph.importDevices([device('C-7')], { sendWithinMs: 0 });
    expect(result).toMatchObject({ ok: false, kind: 'throttled', source: 'budget', inDoubt: [] });
    expect(result.ok ? [] : result.notSubmitted.map((d) => d.serialNumber)).toEqual(['C-7']);
    expect(sim.stats().total).toBe(0);
    expect((await graph.importDevices([device('C-8')], { sendWithinMs: 60_000 })).ok).toBe(true);
  });

  it('counts a request Graph answered 429 as not imported, never in doubt', async () => {
    const { graph } = await setup({ throttle: { writesPer20s: 0 } });
    const result = await graph.importDevices([device('C-6')]);
    expect(result).toMatchObject({ ok: false, kind: 'throttled', source: 'graph', inDoubt: [] });
    expect(result.ok ? [] : result.notSubmitted.map((d) => d.serialNumber)).toEqual(['C-6']);
  });
});

describe('budget store trouble', () => {
  it('turns an unreachable budget into a transient result, sending nothing', async () => {
    const unreachable: RequestBudget = {
      acquire: () => Promise.reject(new Error('table endpoint refused the connection')),
      reportThrottled: () => Promise.resolve(),
      claimSync: () => Promise.reject(new Error('table endpoint refused the connection')),
    };
    const { sim, graph } = await setup({}, { budget: unreachable });
    expect(await graph.checkReachable()).toMatchObject({
      ok: false,
      kind: 'transient',
      message: expect.stringContaining('budget unavailable'),
    });
    expect(await graph.syncAutopilot()).toMatchObject({ ok: false, kind: 'transient' });
    // An import the budget could not admit never left: not in doubt.
    expect(await graph.importDevices([device('U-1')])).toMatchObject({
      ok: false,
      kind: 'transient',
      inDoubt: [],
      notSubmitted: [expect.objectContaining({ serialNumber: 'U-1' })],
    });
    expect(sim.stats().total).toBe(0);
  });
});

describe('permanent errors', () => {
  it('maps 4xx to permanent with Graph’s error code, and 404 to not-found', async () => {
    const { sim, graph } = await setup({ maxImportBatchSize: 1 });
    const tooBig = await graph.importDevices([device('P-1'), device('P-2')]);
    expect(tooBig).toMatchObject({ ok: false, kind: 'permanent', status: 400, code: 'BadRequest' });
    expect(await graph.getAutopilotIdentity('00000000-0000-0000-0000-000000000404')).toMatchObject({ ok: false, kind: 'not-found' });
    expect(sim.stats().byStatus).toEqual({ '400': 1, '404': 1 });
  });
});
