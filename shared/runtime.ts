import { randomUUID } from 'node:crypto';
import { BlobStore } from './adapters/blobs/blob-store.js';
import { IntakeFailureQueueFeed } from './adapters/blobs/intake-failure-feed.js';
import { createServiceBusClient, WorkQueue } from './adapters/bus/work-queue.js';
import { budgetLimitsFrom, createGraphClientFromSettings, createTableBudget, type GraphClient } from './adapters/graph/index.js';
import { BatchDeviceRepository } from './adapters/tables/batch-device-index.js';
import { BatchRepository } from './adapters/tables/batch-repository.js';
import { DeadLetterCursorRepository } from './adapters/tables/dead-letter-cursors.js';
import { DeviceRepository } from './adapters/tables/device-repository.js';
import { IdempotencyRepository } from './adapters/tables/idempotency-store.js';
import { IntakeFailureRepository } from './adapters/tables/intake-failure-store.js';
import { PoisonRepository } from './adapters/tables/poison-store.js';
import { TableStore } from './adapters/tables/table-store.js';
import { TABLES } from './adapters/tables/table-names.js';
import { TickLeaseRepository } from './adapters/tables/tick-leases.js';
import { appConfig, type AppConfig } from './config.js';
import { systemClock, type Clock } from './domain/clock.js';
import { EVENTS } from './events.js';
import { createLogger, type Logger } from './log.js';
import { QUEUES } from './messages/index.js';
import { graphPolicy, pipelinePolicy, sweeperPolicy } from './policies.js';
import { checkHealth, sharedHealthCheck, type HealthReport } from './services/health.js';
import type { WebhookDeps } from './http/reprovision-webhook.js';
import type { IntakeDeps } from './services/intake/index.js';
import type { DispatchDeps } from './services/pipeline/dispatch.js';
import type { SweeperDeps } from './services/sweeper.js';

/**
 * The composition root: builds each adapter once per process from the validated
 * configuration, and each use case's dependencies from them. Function files call
 * `runtime()` and hand a use case what it asks for; nothing else wires anything.
 */

/** Each health check's own budget, and how long callers share one check (real ms). */
const HEALTH_CHECK_TIMEOUT_MS = 3_000;
const HEALTH_SHARED_FOR_MS = 10_000;
/** A batch id no file can have (not hex): reading it is one cheap table round trip. */
const HEALTH_PROBE_BATCH_ID = 'health-probe';

export interface Runtime {
  readonly config: AppConfig;
  readonly log: Logger;
  readonly blobs: BlobStore;
  readonly devices: DeviceRepository;
  readonly batches: BatchRepository;
  /** The devices of each file, one partition per batch. */
  readonly batchIndex: BatchDeviceRepository;
  readonly queue: WorkQueue;
  readonly graph: GraphClient;
  readonly now: Clock;
  intakeDeps(): IntakeDeps;
  pipelineDeps(): DispatchDeps;
  sweeperDeps(): SweeperDeps;
  reprovisionDeps(): WebhookDeps;
  /** Storage, Service Bus and Graph checked at once; callers within a few seconds share one check. */
  health(): Promise<HealthReport>;
  close(): Promise<void>;
}

export async function createRuntime(config: AppConfig, log: Logger = createLogger({ level: config.logLevel })): Promise<Runtime> {
  const now = systemClock;
  const storage = config.storageConnectionString;
  const blobs = BlobStore.fromConnectionString(storage);
  const devices = DeviceRepository.fromConnectionString(storage);
  const batches = BatchRepository.fromConnectionString(storage);
  const batchIndex = BatchDeviceRepository.fromConnectionString(storage);
  const leases = TickLeaseRepository.fromConnectionString(storage);
  const cursors = DeadLetterCursorRepository.fromConnectionString(storage, now);
  const poison = PoisonRepository.fromConnectionString(storage);
  const idempotency = IdempotencyRepository.fromConnectionString(storage);
  const intakeFailures = {
    feed: IntakeFailureQueueFeed.fromConnectionString(storage),
    store: IntakeFailureRepository.fromConnectionString(storage),
  };
  await Promise.all([
    devices.ensure(),
    batches.ensure(),
    batchIndex.ensure(),
    leases.ensure(),
    cursors.ensure(),
    poison.ensure(),
    idempotency.ensure(),
    intakeFailures.store.ensure(),
  ]);
  const bus = createServiceBusClient(config.serviceBus);
  const queue = new WorkQueue(bus);

  const graphSettings = graphPolicy(config);
  const budget = createTableBudget({
    store: TableStore.fromConnectionString(storage, TABLES.graphBudget),
    limits: budgetLimitsFrom(graphSettings),
    now,
  });
  const graph = createGraphClientFromSettings(graphSettings, budget);

  const ticks = { leases, queue, now };
  const policy = pipelinePolicy(config);
  const intake: IntakeDeps = { blobs, devices, batchIndex, batches, queue, suppliers: config.suppliers, limits: config.intake, log, now };
  const pipeline: DispatchDeps = { ...policy, devices, batches, batchIndex, graph, queue, ticks, poison, intake, log, now };
  const settle = { batches, batchIndex, devices, blobs, log, now };
  const sweeper: SweeperDeps = {
    devices,
    batches,
    queue,
    ticks,
    cursors,
    poison,
    intakeFailures,
    idempotency,
    settle,
    log,
    now,
    policy: sweeperPolicy(config),
  };
  const reprovision: WebhookDeps = {
    keys: config.webhookKeys,
    signatures: idempotency,
    accept: { devices, batchIndex, idempotency, queue, log, now, newRequestId: randomUUID, deadlineMs: policy.waits.deadlines.reprovision },
    log,
    now,
  };
  const health = sharedHealthCheck(async () => {
    const report = await checkHealth(
      {
        storage: () => batches.get(HEALTH_PROBE_BATCH_ID),
        serviceBus: (abortSignal) => queue.peekDeadLetters(QUEUES.import, { maxMessages: 1, abortSignal }),
        // Lowest priority: a health check never takes a request slot from the pipeline.
        graph: () => graph.checkReachable({ priority: 'cleanup' }),
      },
      { timeoutMs: HEALTH_CHECK_TIMEOUT_MS },
    );
    if (report.status !== 'ok') log.warn({ event: EVENTS.healthDegraded, checks: report.checks }, 'health check: degraded');
    return report;
  }, HEALTH_SHARED_FOR_MS);

  return {
    config,
    log,
    blobs,
    devices,
    batches,
    batchIndex,
    queue,
    graph,
    now,
    intakeDeps: () => intake,
    pipelineDeps: () => pipeline,
    sweeperDeps: () => sweeper,
    reprovisionDeps: () => reprovision,
    health,
    async close() {
      graph.close();
      await queue.close();
      await bus.close();
    },
  };
}

let shared: Promise<Runtime> | undefined;

/** The process-wide runtime, created on first use from the app settings. */
export function runtime(): Promise<Runtime> {
  shared ??= createRuntime(appConfig()).catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

/** Lets a host that builds its own runtime (the local dev host) share it with the functions. */
export function useRuntime(instance: Runtime): void {
  shared = Promise.resolve(instance);
}
