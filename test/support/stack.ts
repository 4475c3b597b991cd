import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { loadConfig, type AppConfig } from '../../shared/config.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { createRuntime, useRuntime, type Runtime } from '../../shared/runtime.js';
import { QUEUES } from '../../shared/adapters/bus/queues.js';
import { startAzurite, type AzuriteInstance } from '../../local/azurite.js';
import { startServiceBusBroker, type BrokerQueueOptions, type ServiceBusBroker } from '../../local/servicebus-broker/index.js';

/**
 * A private set of the real local components for one end-to-end test file: its own
 * Azurite (blob triggers watch the fixed contract containers, so stacks must not share
 * storage), its own Service Bus test broker, and the product runtime built from settings
 * exactly as in Azure.
 */

export const TEST_SUPPLIERS = [
  { id: 'contoso', name: 'Contoso Ltd', allowedGroupTags: ['MPS-STD', 'MPS-KIOSK'], defaultGroupTag: 'MPS-STD' },
  { id: 'fabrikam', name: 'Fabrikam', allowedGroupTags: [] },
];

export interface TestStack {
  readonly azurite: AzuriteInstance;
  readonly broker: ServiceBusBroker;
  readonly runtime: Runtime;
  readonly config: AppConfig;
  /** Every JSON log line written so far. */
  readonly logLines: Record<string, unknown>[];
  stop(): Promise<void>;
}

export function queueOptions(overrides: Partial<BrokerQueueOptions> = {}): BrokerQueueOptions[] {
  return Object.values(QUEUES).map((name) => ({ name, maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateDetectionWindowMs: 10 * 60_000, ...overrides }));
}

export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level: 'debug' }, sink), lines };
}

export async function startTestStack(env: Record<string, string> = {}): Promise<TestStack> {
  const azurite = await startAzurite();
  const storageConnectionString = azurite.connectionString;
  const broker = await startServiceBusBroker({ queues: queueOptions() });
  const config = loadConfig({
    AzureWebJobsStorage: storageConnectionString,
    ServiceBusConnection: broker.connectionString,
    REPROVISION_WEBHOOK_SECRET: `test-secret-${randomUUID()}`,
    ZTP_SUPPLIERS: JSON.stringify(TEST_SUPPLIERS),
    ...env,
  });
  const { log, lines } = captureLogger();
  const runtime = await createRuntime(config, log);
  useRuntime(runtime);
  return {
    azurite,
    broker,
    runtime,
    config,
    logLines: lines,
    async stop() {
      await runtime.close();
      await broker.stop();
      await azurite.stop();
    },
  };
}
