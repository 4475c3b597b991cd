import { BlobStore } from './adapters/blobs/blob-store.js';
import { createServiceBusClient, WorkQueue } from './adapters/bus/work-queue.js';
import { BatchRepository } from './adapters/tables/batch-repository.js';
import { DeviceRepository } from './adapters/tables/device-repository.js';
import { appConfig, type AppConfig } from './config.js';
import { createLogger, type Logger } from './log.js';
import type { IntakeDeps } from './services/intake.js';

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
  readonly now: () => Date;
  intakeDeps(): IntakeDeps;
  close(): Promise<void>;
}

export async function createRuntime(config: AppConfig, log: Logger = createLogger({ level: config.logLevel })): Promise<Runtime> {
  const blobs = BlobStore.fromConnectionString(config.storageConnectionString);
  const devices = DeviceRepository.fromConnectionString(config.storageConnectionString);
  const batches = BatchRepository.fromConnectionString(config.storageConnectionString);
  await Promise.all([devices.ensure(), batches.ensure()]);
  const bus = createServiceBusClient(config.serviceBus);
  const queue = new WorkQueue(bus);
  const now = (): Date => new Date();
  return {
    config,
    log,
    blobs,
    devices,
    batches,
    queue,
    now,
    intakeDeps: () => ({ blobs, devices, batches, queue, suppliers: config.suppliers, limits: config.intake, log, now }),
    async close() {
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
