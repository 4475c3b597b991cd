import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGraphSimulator, type GraphSimulator } from '../../../local/graph-simulator/index.js';
import { startServiceBusBroker, type ServiceBusBroker } from '../../../local/servicebus-broker/index.js';
import { createServiceBusClient, WorkQueue } from '../../../shared/adapters/bus/work-queue.js';
import {
  createGraphClient,
  createInMemoryBudget,
  GRAPH_SETTINGS_DEFAULTS,
  type GraphClient,
} from '../../../shared/adapters/graph/index.js';
import { BatchRepository } from '../../../shared/adapters/tables/batch-repository.js';
import { HealthRecordRepository } from '../../../shared/adapters/tables/health-record-store.js';
import { createLogger } from '../../../shared/log.js';
import { QUEUES } from '../../../shared/messages/index.js';
import { createAppHealth, type AppHealth, type HealthPolicy } from '../../../shared/services/app-health.js';
import type { HealthProbes } from '../../../shared/services/health.js';
import { pipelineQueueOptions } from '../../../local/stack.js';

/**
 * The app-wide dependency check with its real parts: the record in Table Storage (Azurite), the
 * Service Bus probe through the SDK against the test broker, the Graph probe through the real
 * client against the simulator. Several "instances" — each its own AppHealth, as each Functions
 * instance builds one — share one record; the clock is the test's, so "a minute later" is exact.
 */

const TOKEN = 'app-health-token';
const GRAPH_PROBE = 'GET windowsAutopilotDeviceIdentities';
const BUS_PROBE = { entity: `${QUEUES.import}/$DeadLetterQueue`, operation: 'com.microsoft:peek-message' };
const POLICY: HealthPolicy = { intervalMs: 60_000, timeoutMs: 3_000, maxAgeMs: 15 * 60_000, livenessSharedMs: 0 };

let sim: GraphSimulator;
let broker: ServiceBusBroker;
let graph: GraphClient;
let queue: WorkQueue;
let bus: ReturnType<typeof createServiceBusClient>;
let probes: HealthProbes;
const log = createLogger({ level: 'silent' });

beforeAll(async () => {
  sim = await startGraphSimulator({ token: TOKEN, https: true });
  broker = await startServiceBusBroker({ queues: pipelineQueueOptions() });
  graph = createGraphClient({
    ...GRAPH_SETTINGS_DEFAULTS,
    baseUrl: sim.baseUrl,
    staticToken: TOKEN,
    caCertPem: sim.caCertPem,
    budget: createInMemoryBudget({
      limits: { writesPerWindow: 100, requestsPerWindow: 1000, windowMs: 20_000, shares: { import: 1, status: 1, cleanup: 1 } },
    }),
  });
  bus = createServiceBusClient({ connectionString: broker.connectionString });
  queue = new WorkQueue(bus);
  const batches = BatchRepository.connect(inject('storageConnectionString'), `healthbatches${suffix()}`);
  await batches.ensure();
  probes = {
    storage: () => batches.get('health-probe'),
    serviceBus: (abortSignal) => queue.peekDeadLetters(QUEUES.import, { maxMessages: 1, abortSignal }),
    graph: () => graph.checkReachable({ priority: 'cleanup' }),
  };
});

afterAll(async () => {
  graph?.close();
  await queue?.close();
  await bus?.close();
  await broker?.stop();
  await sim?.stop();
});

function suffix(): string {
  return randomUUID().replace(/-/g, '').slice(0, 12);
}

/** A clock the test moves by hand, shared by every instance. */
function manualClock(): { now: () => Date; advance: (ms: number) => void } {
  let time = Date.parse('2025-03-03T09:00:00.000Z');
  return { now: () => new Date(time), advance: (ms) => (time += ms) };
}

interface App {
  readonly instances: AppHealth[];
  readonly store: HealthRecordRepository;
  readonly clock: ReturnType<typeof manualClock>;
  /** Probes each dependency saw since the app was made. */
  probed(): { graph: number; serviceBus: number };
}

/** An app of `count` instances sharing a fresh health table. */
async function app(count: number, options: { probes?: Partial<HealthProbes>; policy?: Partial<HealthPolicy> } = {}): Promise<App> {
  const store = HealthRecordRepository.connect(inject('storageConnectionString'), `health${suffix()}`);
  await store.ensure();
  const clock = manualClock();
  const graphBefore = graphProbes();
  const busBefore = busProbes();
  const instances = Array.from({ length: count }, () =>
    createAppHealth({
      store,
      probes: { ...probes, ...options.probes },
      policy: { ...POLICY, ...options.policy },
      instanceId: randomUUID(),
      log,
      now: clock.now,
    }),
  );
  return { instances, store, clock, probed: () => ({ graph: graphProbes() - graphBefore, serviceBus: busProbes() - busBefore }) };
}

const graphProbes = (): number => sim.requestLog().filter((entry) => entry.route === GRAPH_PROBE).length;
const busProbes = (): number =>
  broker.managementLog().filter((entry) => entry.entity === BUS_PROBE.entity && entry.operation === BUS_PROBE.operation).length;

describe('details', () => {
  it('takes one check for every instance and caller at once, and the same result reaches them all', async () => {
    const { instances, probed } = await app(3);
    const answers = await Promise.all(instances.flatMap((instance) => Array.from({ length: 5 }, () => instance.details())));
    expect(probed()).toEqual({ graph: 1, serviceBus: 1 });
    expect(new Set(answers.map((a) => a.checkedAt)).size).toBe(1);
    for (const answer of answers) {
      expect(answer).toMatchObject({
        status: 'ok',
        ageSeconds: 0,
        checks: { storage: { ok: true }, serviceBus: { ok: true }, graph: { ok: true } },
      });
    }
  });

  it('uses the result for an interval, then one instance takes the next for all', async () => {
    const { instances, clock, probed } = await app(2);
    const first = await instances[0]!.details();
    clock.advance(59_000);
    const within = await Promise.all(instances.map((instance) => instance.details()));
    expect(within.map((a) => [a.checkedAt, a.ageSeconds])).toEqual([
      [first.checkedAt, 59],
      [first.checkedAt, 59],
    ]);
    expect(probed()).toEqual({ graph: 1, serviceBus: 1 });

    clock.advance(1_000);
    const after = await Promise.all([...instances, ...instances].map((instance) => instance.details()));
    expect(probed()).toEqual({ graph: 2, serviceBus: 2 });
    // The instance that claimed the check answers its result; the other, meanwhile, the one before.
    expect(after.map((a) => a.checkedAt)).toContain(clock.now().toISOString());
    for (const answer of after) expect([first.checkedAt, clock.now().toISOString()]).toContain(answer.checkedAt);
  });

  it('while another instance holds the claim, answers its last result instead of checking', async () => {
    const { instances, store, clock, probed } = await app(2);
    const first = await instances[0]!.details();
    clock.advance(120_000);
    // The other instance has claimed the next check and not written it yet.
    const { record, etag } = await store.read();
    await store.write({ ...record, claim: { by: 'other', until: new Date(clock.now().getTime() + 9_000).toISOString() } }, etag);
    expect(await instances[1]!.details()).toMatchObject({ checkedAt: first.checkedAt, ageSeconds: 120 });
    expect(probed()).toEqual({ graph: 1, serviceBus: 1 });

    // It stopped before writing: once its claim runs out, the next caller checks.
    clock.advance(9_000);
    expect((await instances[1]!.details()).checkedAt).toBe(clock.now().toISOString());
    expect(probed()).toEqual({ graph: 2, serviceBus: 2 });
  });

  it('names the failing dependency with a short reason, and liveness says degraded', async () => {
    const failing = await app(1, {
      probes: { graph: async () => ({ ok: false, kind: 'permanent', status: 403, code: 'Forbidden', message: TOKEN }) },
    });
    const answer = await failing.instances[0]!.details();
    expect(answer).toMatchObject({
      status: 'degraded',
      checks: { graph: { ok: false, reason: 'answered 403 Forbidden' }, storage: { ok: true } },
    });
    expect(JSON.stringify(answer)).not.toContain(TOKEN);
    expect(await failing.instances[0]!.liveness()).toBe('degraded');
  });

  it('with the record out of reach, says storage failed and checks nothing else', async () => {
    const unreachable = HealthRecordRepository.connect(
      'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;',
      'health',
    );
    const graphBefore = graphProbes();
    const instance = createAppHealth({
      store: unreachable,
      probes,
      policy: { ...POLICY, timeoutMs: 1_000 },
      instanceId: 'x',
      log,
      now: () => new Date(),
    });
    const answer = await instance.details();
    expect(answer.status).toBe('degraded');
    expect(Object.keys(answer.checks)).toEqual(['storage']);
    expect(answer.checks.storage).toMatchObject({ ok: false, reason: expect.any(String) });
    expect(JSON.stringify(answer)).not.toContain('AccountKey');
    expect(await instance.liveness()).toBe('degraded');
    expect(graphProbes()).toBe(graphBefore);
  });
});

describe('liveness', () => {
  it('reads the result and never checks, however stale it is', async () => {
    const { instances, clock, probed } = await app(2);
    // Before the first check there is nothing to go on.
    expect(await instances[0]!.liveness()).toBe('degraded');
    expect(probed()).toEqual({ graph: 0, serviceBus: 0 });

    await instances[0]!.details();
    for (const instance of instances) expect(await instance.liveness()).toBe('ok');
    clock.advance(14 * 60_000);
    const answers = await Promise.all(instances.flatMap((instance) => Array.from({ length: 10 }, () => instance.liveness())));
    expect(new Set(answers)).toEqual(new Set(['ok']));
    expect(probed()).toEqual({ graph: 1, serviceBus: 1 });

    // Past the longest gap checks may leave: they have stopped, and that is not ok.
    clock.advance(60_001);
    expect(await instances[1]!.liveness()).toBe('degraded');
    expect(probed()).toEqual({ graph: 1, serviceBus: 1 });
  });

  it('callers in one instance share a read for a few seconds', async () => {
    const { instances, store, clock } = await app(1, { policy: { livenessSharedMs: 5_000 } });
    await instances[0]!.details();
    expect(await instances[0]!.liveness()).toBe('ok');
    // The record turns degraded behind this instance's back: it sees so once its shared read is over.
    const { record, etag } = await store.read();
    await store.write({ checked: { ...record.checked!, report: { ...record.checked!.report, status: 'degraded' } } }, etag);
    clock.advance(4_999);
    expect(await instances[0]!.liveness()).toBe('ok');
    clock.advance(1);
    expect(await instances[0]!.liveness()).toBe('degraded');
  });
});

describe('refresh', () => {
  it('checks when the result is stale and leaves a fresh one alone', async () => {
    const { instances, clock, probed } = await app(2);
    await instances[0]!.refresh();
    await instances[1]!.refresh();
    expect(probed()).toEqual({ graph: 1, serviceBus: 1 });
    clock.advance(60_000);
    await Promise.all(instances.map((instance) => instance.refresh()));
    expect(probed()).toEqual({ graph: 2, serviceBus: 2 });
  });
});
