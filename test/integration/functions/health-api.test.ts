import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthOptions } from '../../../functions/health.js';
import { healthDetailsOptions } from '../../../functions/health-details.js';
import { healthProbeOptions } from '../../../functions/health-probe.js';
import { DevHost } from '../../../local/dev-host/index.js';
import { startGraphSimulator, type GraphSimulator } from '../../../local/graph-simulator/index.js';
import { startLocalRuntime, type LocalRuntime } from '../../../local/stack.js';
import { ConfigError } from '../../../shared/errors.js';
import { QUEUES } from '../../../shared/messages/index.js';
import { HEALTH_REFRESH, withRuntime, type Runtime } from '../../../shared/runtime.js';
import { startTestStack, TEST_SUPPLIERS, type TestStack } from '../../support/stack.js';

/**
 * GET /api/health and GET /api/health/details as the Functions host serves them, through the
 * dev host, for two instances of the app: two runtimes, each built from settings as in Azure,
 * sharing one Azurite and one Service Bus test broker, each behind its own dev host. The Graph
 * simulator's request log and the broker's management log count the checks that reach Graph and
 * Service Bus.
 */

const TOKEN = 'health-api-token';
const INTERVAL_SECONDS = 1;
const GRAPH_PROBE = 'GET windowsAutopilotDeviceIdentities';
const BUS_PROBE_ENTITY = `${QUEUES.import}/$DeadLetterQueue`;

let sim: GraphSimulator;
let stack: TestStack;
let second: LocalRuntime;
const hosts: DevHost[] = [];

/** A dev host serving the health routes (and, when asked, the health timer) for one instance. */
async function instance(runtime: Runtime | Promise<Runtime>, options: { timeScale?: number } = {}): Promise<DevHost> {
  const host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
    invoke: (call) => withRuntime(runtime, call),
    ...(options.timeScale ? { timeScale: options.timeScale } : {}),
  })
    .http('health', healthOptions)
    .http('healthDetails', healthDetailsOptions);
  if (options.timeScale) host.timer('healthProbe', healthProbeOptions);
  await host.start();
  hosts.push(host);
  return host;
}

const graphProbes = (): number => sim.requestLog().filter((entry) => entry.route === GRAPH_PROBE).length;
const busProbes = (): number =>
  stack.broker.managementLog().filter((entry) => entry.entity === BUS_PROBE_ENTITY && entry.operation === 'com.microsoft:peek-message')
    .length;
const probes = (): { graph: number; serviceBus: number } => ({ graph: graphProbes(), serviceBus: busProbes() });

async function get(
  host: DevHost,
  path: string,
): Promise<{ status: number; body: Record<string, unknown>; text: string; headers: Headers }> {
  const response = await fetch(`${host.httpBaseUrl}/api/${path}`);
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, text, headers: response.headers };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  sim = await startGraphSimulator({ token: TOKEN });
  const env = { GRAPH_BASE_URL: sim.baseUrl, GRAPH_STATIC_TOKEN: TOKEN, ZTP_HEALTH_PROBE_SECONDS: String(INTERVAL_SECONDS) };
  stack = await startTestStack(env);
  second = await startLocalRuntime(
    { storageConnectionString: stack.azurite.connectionString, serviceBusConnectionString: stack.broker.connectionString },
    { ZTP_SUPPLIERS: JSON.stringify(TEST_SUPPLIERS), ...env },
    stack.runtime.log,
  );
});

afterAll(async () => {
  for (const host of hosts) await host.stop();
  await second?.stop();
  await stack?.stop();
  await sim?.stop();
});

describe('the routes', () => {
  it('liveness is anonymous, the details take a function key, the timer runs with the sweeper', () => {
    expect(healthOptions).toMatchObject({ methods: ['GET'], route: 'health', authLevel: 'anonymous' });
    expect(healthDetailsOptions).toMatchObject({ methods: ['GET'], route: 'health/details', authLevel: 'function' });
    expect(healthProbeOptions).toMatchObject({ schedule: HEALTH_REFRESH.schedule, runOnStartup: false });
    expect(HEALTH_REFRESH.schedule).toBe('0 */5 * * * *');
    expect(HEALTH_REFRESH.periodMs).toBe(5 * 60_000);
  });
});

describe('two instances on one storage account', () => {
  let a: DevHost;
  let b: DevHost;

  beforeAll(async () => {
    a = await instance(stack.runtime);
    b = await instance(second.runtime);
  });

  it('before the first check, liveness is degraded and starts none', async () => {
    const before = probes();
    const answers = await Promise.all([a, b, a, b].map((host) => get(host, 'health')));
    for (const answer of answers) {
      expect(answer.status).toBe(503);
      expect(answer.text).toBe('{"status":"degraded"}');
    }
    expect(probes()).toEqual(before);
  });

  it('details from both at once: one Graph and one Service Bus check for the whole app', async () => {
    const before = probes();
    const answers = await Promise.all([a, b].flatMap((host) => Array.from({ length: 6 }, () => get(host, 'health/details'))));
    expect(probes()).toEqual({ graph: before.graph + 1, serviceBus: before.serviceBus + 1 });
    expect(new Set(answers.map((answer) => answer.body.checkedAt)).size).toBe(1);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.body).toMatchObject({
        status: 'ok',
        checkedAt: expect.any(String),
        ageSeconds: expect.any(Number),
        checks: {
          storage: { ok: true, ms: expect.any(Number) },
          serviceBus: { ok: true, ms: expect.any(Number) },
          graph: { ok: true, ms: expect.any(Number) },
        },
      });
    }
  });

  it('liveness says only ok, and costs no check', async () => {
    const before = probes();
    const answers = await Promise.all([a, b].flatMap((host) => Array.from({ length: 10 }, () => get(host, 'health'))));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('{"status":"ok"}');
      expect(answer.headers.get('cache-control')).toBe('no-store');
    }
    expect(probes()).toEqual(before);
  });

  it('once the interval has passed, one instance checks again for both', async () => {
    await pause(INTERVAL_SECONDS * 1000 + 100);
    const before = probes();
    const answers = await Promise.all([a, b, a, b].map((host) => get(host, 'health/details')));
    expect(probes()).toEqual({ graph: before.graph + 1, serviceBus: before.serviceBus + 1 });
    for (const answer of answers) expect(answer.status).toBe(200);
  });

  it('a failing dependency: details name it, liveness says degraded and nothing more', async () => {
    sim.setFaults({ errorRate5xx: 1 });
    try {
      await pause(INTERVAL_SECONDS * 1000 + 100);
      const details = await get(b, 'health/details');
      expect(details.status).toBe(503);
      expect(details.body).toMatchObject({
        status: 'degraded',
        checks: {
          storage: { ok: true },
          serviceBus: { ok: true },
          graph: { ok: false, reason: expect.stringMatching(/^answered 5\d\d$/) },
        },
      });
      for (const secret of ['AccountKey', 'SharedAccessKey', TOKEN, '127.0.0.1', ' at ']) expect(details.text).not.toContain(secret);
      expect(stack.logLines.some((line) => line.event === 'health.degraded')).toBe(true);

      for (const host of [a, b]) {
        const liveness = await get(host, 'health');
        expect(liveness.status).toBe(503);
        expect(liveness.text).toBe('{"status":"degraded"}');
      }
    } finally {
      sim.setFaults({ errorRate5xx: 0 });
    }
  });
});

describe('the health timer, on two instances', () => {
  it('keeps the result fresh with one check per interval for the app, not per instance', async () => {
    // The same two runtimes behind hosts that run the timer too; its five minutes pass in half a second.
    const timeScale = HEALTH_REFRESH.periodMs / 500;
    const hostA = await instance(stack.runtime, { timeScale });
    const hostB = await instance(second.runtime, { timeScale });
    await pause(INTERVAL_SECONDS * 1000 + 100);
    const before = probes();
    const started = Date.now();
    await pause(3_200);
    const intervals = (Date.now() - started) / (INTERVAL_SECONDS * 1000);
    const made = probes();
    const graphChecks = made.graph - before.graph;
    expect(graphChecks).toBeGreaterThanOrEqual(2);
    // Two timers firing every half second would make twelve; one check per interval makes about three.
    expect(graphChecks).toBeLessThanOrEqual(Math.ceil(intervals) + 1);
    // Each check asks both; one in flight at either snapshot may have asked only one of them yet.
    expect(Math.abs(made.serviceBus - before.serviceBus - graphChecks)).toBeLessThanOrEqual(1);
    for (const host of [hostA, hostB]) expect((await get(host, 'health')).text).toBe('{"status":"ok"}');
  });
});

describe('an instance that could not start', () => {
  it('liveness says degraded only; the details name the setting', async () => {
    const failed = Promise.reject(new ConfigError('ZTP_SUPPLIERS', 'must be JSON'));
    failed.catch(() => undefined);
    const broken = await instance(failed);
    const liveness = await get(broken, 'health');
    expect(liveness.status).toBe(503);
    expect(liveness.text).toBe('{"status":"degraded"}');
    const details = await get(broken, 'health/details');
    expect(details.status).toBe(503);
    expect(details.body).toEqual({ status: 'degraded', reason: 'setting ZTP_SUPPLIERS is missing or invalid', checks: {} });
  });
});
