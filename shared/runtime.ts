import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { BlobStore } from './adapters/blobs/blob-store.js';
import { IntakeFailureQueueFeed } from './adapters/blobs/intake-failure-feed.js';
import { createServiceBusClient, WorkQueue } from './adapters/bus/work-queue.js';
import { createGraphClientFromSettings, createTableBudget, tableBudgetSettingsFrom, type GraphClient } from './adapters/graph/index.js';
import { BatchDeviceRepository } from './adapters/tables/batch-device-index.js';
import { BatchRepository } from './adapters/tables/batch-repository.js';
import { DeadLetterCursorRepository } from './adapters/tables/dead-letter-cursors.js';
import { DeviceRepository } from './adapters/tables/device-repository.js';
import { HealthRecordRepository } from './adapters/tables/health-record-store.js';
import { IdempotencyRepository } from './adapters/tables/idempotency-store.js';
import { IntakeFailureRepository } from './adapters/tables/intake-failure-store.js';
import { PoisonRepository } from './adapters/tables/poison-store.js';
import { StorageAccess } from './adapters/storage-access.js';
import { TableStore } from './adapters/tables/table-store.js';
import { TABLES } from './adapters/tables/table-names.js';
import { TickLeaseRepository } from './adapters/tables/tick-leases.js';
import { appConfig, type AppConfig } from './config.js';
import { systemClock, type Clock } from './domain/clock.js';
import { createLogger, type Logger } from './log.js';
import { QUEUES } from './messages/index.js';
import { graphPolicy, pipelinePolicy, sweeperPolicy } from './policies.js';
import { createAppHealth, type AppHealth } from './services/app-health.js';
import type { WebhookDeps } from './http/reprovision-webhook.js';
import type { SupplierFilesDeps } from './http/supplier-files.js';
import { supplierKeyring } from './domain/supplier-keys.js';
import type { IntakeDeps } from './services/intake/index.js';
import type { DispatchDeps } from './services/pipeline/dispatch.js';
import type { SweeperDeps } from './services/sweeper.js';

/**
 * The composition root: builds each adapter once per process from the validated
 * configuration, and each use case's dependencies from them. Function files call
 * `runtime()` and hand a use case what it asks for; nothing else wires anything.
 */

/** Each dependency check's own budget (real ms). */
const HEALTH_CHECK_TIMEOUT_MS = 3_000;
/** Liveness callers within this long share one read of the health record, per instance (real ms). */
const LIVENESS_SHARED_MS = 5_000;
/** The health timer (functions/health-probe.ts): every five minutes, with the sweeper, so it wakes nothing up on its own. */
export const HEALTH_REFRESH = { schedule: '0 */5 * * * *', periodMs: 5 * 60_000 } as const;
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
  supplierFilesDeps(): SupplierFilesDeps;
  /** Storage, Service Bus and Graph, checked once per interval for every instance of the app. */
  readonly health: AppHealth;
  close(): Promise<void>;
}

export async function createRuntime(config: AppConfig, log: Logger = createLogger({ level: config.logLevel })): Promise<Runtime> {
  const now = systemClock;
  const storage = StorageAccess.from(config.storage);
  const blobs = BlobStore.connect(storage);
  const devices = DeviceRepository.connect(storage);
  const batches = BatchRepository.connect(storage);
  const batchIndex = BatchDeviceRepository.connect(storage, undefined, now);
  const leases = TickLeaseRepository.connect(storage);
  const cursors = DeadLetterCursorRepository.connect(storage, now);
  const poison = PoisonRepository.connect(storage);
  const idempotency = IdempotencyRepository.connect(storage);
  const healthRecord = HealthRecordRepository.connect(storage);
  const intakeFailures = {
    feed: IntakeFailureQueueFeed.connect(storage),
    store: IntakeFailureRepository.connect(storage),
  };
  // The first storage calls: a refused identity or key fails start-up here, in words that name the setting.
  await Promise.all([
    devices.ensure(),
    batches.ensure(),
    batchIndex.ensure(),
    leases.ensure(),
    cursors.ensure(),
    poison.ensure(),
    idempotency.ensure(),
    intakeFailures.store.ensure(),
    healthRecord.ensure(),
  ]).catch((error: unknown) => {
    throw storage.startFailure(error);
  });
  const bus = createServiceBusClient(config.serviceBus);
  const queue = new WorkQueue(bus);

  const graphSettings = graphPolicy(config);
  const budget = createTableBudget({
    store: TableStore.connect(storage, TABLES.graphBudget),
    ...tableBudgetSettingsFrom(graphSettings),
    now,
    log,
  });
  const graph = createGraphClientFromSettings(graphSettings, budget);

  const ticks = { leases, queue, now };
  const policy = pipelinePolicy(config);
  const intake: IntakeDeps = { blobs, devices, batchIndex, batches, queue, suppliers: config.suppliers, limits: config.intake, log, now };
  const pipeline: DispatchDeps = { ...policy, devices, batches, batchIndex, graph, queue, ticks, poison, intake, log, now };
  const settle = { batches, batchIndex, devices, blobs, log, now, repairAfterMs: sweeperPolicy(config).requeueAfterMs };
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
    enabled: config.reprovisioning.enabled,
    keys: config.webhookKeys,
    signatures: idempotency,
    accept: { devices, batchIndex, idempotency, queue, log, now, newRequestId: randomUUID, deadlineMs: policy.waits.deadlines.reprovision },
    log,
    now,
  };
  const supplierFiles: SupplierFilesDeps = {
    keyring: supplierKeyring(config.suppliers),
    upload: { blobs, limits: config.intake },
    log,
  };
  const health = createAppHealth({
    store: healthRecord,
    probes: {
      storage: () => batches.get(HEALTH_PROBE_BATCH_ID),
      serviceBus: (abortSignal) => queue.peekDeadLetters(QUEUES.import, { maxMessages: 1, abortSignal }),
      // Lowest priority: a health check never takes a request slot from the pipeline.
      graph: () => graph.checkReachable({ priority: 'cleanup' }),
    },
    policy: {
      intervalMs: config.health.probeIntervalMs,
      timeoutMs: HEALTH_CHECK_TIMEOUT_MS,
      // Three timer runs missed (or three intervals, when those are longer): the checks have stopped.
      maxAgeMs: 3 * Math.max(config.health.probeIntervalMs, HEALTH_REFRESH.periodMs),
      livenessSharedMs: Math.min(LIVENESS_SHARED_MS, config.health.probeIntervalMs),
    },
    instanceId: randomUUID(),
    log,
    now,
  });

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
    supplierFilesDeps: () => supplierFiles,
    health,
    async close() {
      graph.close();
      await queue.close();
      await bus.close();
    },
  };
}

let shared: Promise<Runtime> | undefined;
const scoped = new AsyncLocalStorage<Promise<Runtime>>();

/** The process-wide runtime, created on first use from the app settings. */
export function runtime(): Promise<Runtime> {
  const own = scoped.getStore();
  if (own) return own;
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

/**
 * Runs `work` with `instance` as the runtime every function it calls sees, whatever the
 * process-wide one is: several instances of the app in one process, as tests run them.
 */
export function withRuntime<T>(instance: Runtime | Promise<Runtime>, work: () => T): T {
  return scoped.run(Promise.resolve(instance), work);
}
