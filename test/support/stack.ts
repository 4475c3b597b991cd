import { Writable } from 'node:stream';
import { followUpOptions } from '../../functions/follow-up.js';
import { importDevicesOptions } from '../../functions/import-devices.js';
import { intakeHashFileOptions } from '../../functions/intake-hash-file.js';
import { DevHost } from '../../local/dev-host/index.js';
import type { AppConfig } from '../../shared/config.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { Runtime } from '../../shared/runtime.js';
import type { AzuriteInstance } from '../../local/azurite.js';
import type { BrokerQueueOptions, ServiceBusBroker } from '../../local/servicebus-broker/index.js';
import { pipelineQueueOptions, startLocalStack } from '../../local/stack.js';

/**
 * A private set of the real local components for one end-to-end test file (see
 * local/stack.ts): its own Azurite, its own Service Bus test broker, and the product runtime
 * built from settings exactly as in Azure, logging into memory for assertions.
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
  /** The stack's Azurite, as a connection string (the runtime's own settings may be identity-based in Azure; here they never are). */
  readonly storageConnectionString: string;
  /** Every JSON log line written so far. */
  readonly logLines: Record<string, unknown>[];
  stop(): Promise<void>;
}

export const queueOptions = pipelineQueueOptions;

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

export async function startTestStack(
  env: Record<string, string> = {},
  options: { queues?: BrokerQueueOptions[] } = {},
): Promise<TestStack> {
  const { log, lines } = captureLogger();
  const stack = await startLocalStack({ ZTP_SUPPLIERS: JSON.stringify(TEST_SUPPLIERS), ...env }, { log, ...options });
  return {
    azurite: stack.azurite,
    broker: stack.broker,
    runtime: stack.runtime,
    config: stack.config,
    storageConnectionString: stack.storageConnectionString,
    logLines: lines,
    stop: stack.stop,
  };
}

/**
 * The dev host on a test stack, running the pipeline's functions: intake (blob trigger),
 * import and follow-up (Service Bus), the way the Functions host would.
 */
export async function startPipelineHost(stack: TestStack): Promise<DevHost> {
  const host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
    blobPollMs: 100,
  })
    .storageBlob('intakeHashFile', intakeHashFileOptions)
    .serviceBusQueue('importDevices', importDevicesOptions)
    .serviceBusQueue('followUp', followUpOptions);
  await host.start();
  return host;
}
