import { BlobStore } from './adapters/blobs/blob-store.js';
import { createServiceBusClient, WorkQueue } from './adapters/bus/work-queue.js';
import { BatchRepository } from './adapters/tables/batch-repository.js';
import { DeviceRepository } from './adapters/tables/device-repository.js';
import { appConfig, type AppConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import type { IntakeDeps } from './services/intake.js';
import { TableClient } from '@azure/data-tables';
import {
  budgetLimitsFrom,
  createGraphClientFromSettings,
  createTableBudget,
  type GraphClient,
  type GraphSettings,
} from './adapters/graph/index.js';
import { TickLeaseRepository } from './adapters/tables/tick-leases.js';
import { scaled } from './config.js';
import type { PipelineDeps } from './services/pipeline/context.js';

/**
 * The composition root: builds each adapter once per process from the validated
 * configuration and hands the use cases what they need. Function files call `runtime()`.
 */

export interface Runtime {
  readonly config: AppConfig;
  readonly log: Logger;
  readonly blobs: BlobStore;
  readonly devices: DeviceRepository;
  readonly batches: BatchRepository;
  readonly queue: WorkQueue;
  readonly graph: GraphClient;
  readonly now: () => Date;
  intakeDeps(): IntakeDeps;
  pipelineDeps(): PipelineDeps;
  close(): Promise<void>;
}

export async function createRuntime(config: AppConfig, log: Logger = createLogger({ level: config.logLevel })): Promise<Runtime> {
  const blobs = BlobStore.fromConnectionString(config.storageConnectionString);
  const devices = DeviceRepository.fromConnectionString(config.storageConnectionString);
  const batches = BatchRepository.fromConnectionString(config.storageConnectionString);
  const leases = TickLeaseRepository.fromConnectionString(config.storageConnectionString);
  await Promise.all([devices.ensure(), batches.ensure(), leases.ensure()]);
  const bus = createServiceBusClient(config.serviceBus);
  const queue = new WorkQueue(bus);
  const now = (): Date => new Date();

  // Graph's windows and Autopilot's waits run on the simulator's clock when ZTP_TIME_SCALE > 1.
  const graphSettings: GraphSettings = {
    ...config.graph,
    budgetWindowMs: scaled(config, config.graph.budgetWindowMs),
    syncIntervalMs: scaled(config, config.graph.syncIntervalMs),
    defaultRetryAfterMs: scaled(config, config.graph.defaultRetryAfterMs),
  };
  const budgetTable = TableClient.fromConnectionString(config.storageConnectionString, 'graphbudget', {
    allowInsecureConnection: /TableEndpoint=http:/i.test(config.storageConnectionString),
  });
  const budget = createTableBudget({ tableClient: budgetTable, limits: budgetLimitsFrom(graphSettings) });
  const graph = createGraphClientFromSettings(graphSettings, budget);

  const p = config.pipeline;
  // An import call may be in flight this long (real time: network, not Autopilot's clock).
  const claimGraceMs = Math.max(2 * config.graph.requestTimeoutMs, scaled(config, p.firstPollMs));
  const pipeline: PipelineDeps = {
    devices,
    graph,
    queue,
    ticks: { leases, queue, now },
    log,
    now,
    waits: {
      firstPollMs: scaled(config, p.firstPollMs),
      importPollMs: scaled(config, p.importPollMs),
      maxPollIntervalMs: scaled(config, p.maxPollIntervalMs),
      retagSettleMs: scaled(config, p.retagSettleMs),
      deadlines: {
        // Never shorter than a few claim graces, or a fast clock stalls imports before a lost one is retried.
        import: Math.max(scaled(config, p.importDeadlineMs), 4 * claimGraceMs),
        'group-tag': scaled(config, p.profileDeadlineMs),
        'profile-assignment': scaled(config, p.profileDeadlineMs),
        enrolment: scaled(config, p.enrolmentDeadlineMs),
        reprovision: scaled(config, p.reprovisionDeadlineMs),
      },
    },
    retry: {
      firstRetryMs: scaled(config, p.firstRetryMs),
      maxRetryMs: scaled(config, p.maxRetryMs),
      maxTransientRetries: p.maxTransientRetries,
    },
    claimGraceMs,
    importRequestSize: config.graph.importChunkSize,
    importIdPrefix: config.intake.importIdPrefix,
    perDeviceReadLimit: p.perDeviceReadLimit,
  };

  return {
    config,
    log,
    blobs,
    devices,
    batches,
    queue,
    graph,
    now,
    intakeDeps: () => ({ blobs, devices, batches, queue, suppliers: config.suppliers, limits: config.intake, log, now }),
    pipelineDeps: () => pipeline,
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
