import { randomUUID } from 'node:crypto';
import { QUEUES } from '../shared/messages/index.js';
import { loadConfig, type AppConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/log.js';
import { createRuntime, useRuntime, type Runtime } from '../shared/runtime.js';
import { startAzurite, type AzuriteInstance, type AzuriteOptions } from './azurite.js';
import { startServiceBusBroker, type BrokerQueueOptions, type ServiceBusBroker } from './servicebus-broker/index.js';

/**
 * The real local components the product runs on without Azure: Azurite (a child process of
 * its own, since blob triggers watch fixed container names and stacks must not share
 * storage), the Service Bus test broker with the app's queues, and the product runtime built
 * from settings exactly as in Azure. Tests, benchmarks and the local start script share it;
 * the infrastructure and the runtime can also be started apart, in different processes.
 */

export interface LocalInfrastructure {
  readonly azurite: AzuriteInstance;
  readonly broker: ServiceBusBroker;
  readonly storageConnectionString: string;
  readonly serviceBusConnectionString: string;
  stop(): Promise<void>;
}

export interface LocalRuntime {
  readonly runtime: Runtime;
  readonly config: AppConfig;
  stop(): Promise<void>;
}

export type LocalStack = LocalInfrastructure & LocalRuntime;

/** The app's queues as infra creates them: duplicate detection on, ten deliveries before dead-lettering. */
export function pipelineQueueOptions(overrides: Partial<BrokerQueueOptions> = {}): BrokerQueueOptions[] {
  return Object.values(QUEUES).map((name) => ({
    name,
    maxDeliveryCount: 10,
    lockDurationMs: 30_000,
    duplicateDetectionWindowMs: 10 * 60_000,
    ...overrides,
  }));
}

export async function startLocalInfrastructure(
  options: { queues?: BrokerQueueOptions[]; azurite?: AzuriteOptions } = {},
): Promise<LocalInfrastructure> {
  const azurite = await startAzurite(options.azurite);
  let broker: ServiceBusBroker;
  try {
    broker = await startServiceBusBroker({ queues: options.queues ?? pipelineQueueOptions() });
  } catch (error) {
    await azurite.stop();
    throw error;
  }
  return {
    azurite,
    broker,
    storageConnectionString: azurite.connectionString,
    serviceBusConnectionString: broker.connectionString,
    async stop() {
      // Azurite is stopped even when the broker's stop fails (a socket reset as its clients die).
      try {
        await broker.stop();
      } finally {
        await azurite.stop();
      }
    },
  };
}

/**
 * Builds the runtime from `env` on top of the given storage and Service Bus, and makes it the
 * process-wide one the functions use. `env` must name the suppliers (ZTP_SUPPLIERS); a
 * throwaway webhook secret is filled in unless given.
 */
export async function startLocalRuntime(
  connections: { readonly storageConnectionString: string; readonly serviceBusConnectionString: string },
  env: Record<string, string>,
  log?: Logger,
): Promise<LocalRuntime> {
  const config = loadConfig({
    AzureWebJobsStorage: connections.storageConnectionString,
    ServiceBusConnection: connections.serviceBusConnectionString,
    REPROVISION_WEBHOOK_SECRET: `local-secret-${randomUUID()}`,
    ...env,
  });
  const runtime = await createRuntime(config, log ?? createLogger({ level: config.logLevel }));
  useRuntime(runtime);
  return { runtime, config, stop: () => runtime.close() };
}

export async function startLocalStack(
  env: Record<string, string>,
  options: { log?: Logger; queues?: BrokerQueueOptions[] } = {},
): Promise<LocalStack> {
  const infrastructure = await startLocalInfrastructure({ queues: options.queues });
  let local: LocalRuntime;
  try {
    local = await startLocalRuntime(infrastructure, env, options.log);
  } catch (error) {
    await infrastructure.stop();
    throw error;
  }
  return {
    ...infrastructure,
    ...local,
    async stop() {
      await local.stop();
      await infrastructure.stop();
    },
  };
}
