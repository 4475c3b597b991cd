import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDevicesOptions } from '../../functions/import-devices.js';
import { DevHost } from '../../local/dev-host/index.js';
import { startGraphSimulator, type GraphSimulator } from '../../local/graph-simulator/index.js';
import { Random, sampleDevice } from '../../local/sample-data.js';
import { QUEUES } from '../../shared/messages/index.js';
import { newDevice } from '../../shared/domain/device.js';
import { pipelineQueueOptions } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Transient Graph faults are retried by rescheduling with backoff, never by sleeping; when
 * they outlast the retry limit the message goes through the queue's delivery count to the
 * dead-letter queue, with its reason — nothing is lost silently, and the device stays where it was.
 */
describe('transient faults that never end', () => {
  let sim: GraphSimulator;
  let stack: TestStack;
  let host: DevHost;

  beforeAll(async () => {
    sim = await startGraphSimulator({ token: 't', clock: { timeScale: 600 }, faults: { seed: 3, errorRate5xx: 1 } });
    stack = await startTestStack(
      {
        GRAPH_BASE_URL: sim.baseUrl,
        GRAPH_STATIC_TOKEN: 't',
        ZTP_TIME_SCALE: '600',
        ZTP_FIRST_RETRY_SECONDS: '30',
        ZTP_MAX_TRANSIENT_RETRIES: '3',
      },
      { queues: pipelineQueueOptions({ maxDeliveryCount: 3 }) },
    );
    host = new DevHost({
      serviceBusConnectionString: stack.broker.connectionString,
      storageConnectionString: stack.config.storageConnectionString,
      log: stack.runtime.log,
    }).serviceBusQueue('importDevices', importDevicesOptions);
    await host.start();
  });

  afterAll(async () => {
    await host?.stop();
    await stack?.stop();
    await sim?.stop();
  });

  it('reschedules with backoff, then dead-letters after the max delivery count', async () => {
    const device = sampleDevice(new Random(5));
    const now = new Date();
    const { record, event } = newDevice(
      {
        serialNumber: device.serialNumber,
        supplierId: 'contoso',
        batchId: 'b',
        line: 2,
        hardwareHash: device.hardwareHash,
        groupTag: 'MPS-STD',
      },
      'received',
      'accepted-from-file',
      'c',
      now,
    );
    await stack.runtime.devices.create(record, event);
    await stack.runtime.queue.send(QUEUES.import, [
      {
        kind: 'import-chunk',
        correlationId: 'dlq-test',
        messageId: 'chunk-1',
        payload: { source: { kind: 'file', batchId: 'b', chunk: 0 }, serialNumbers: [device.serialNumber] },
      },
    ]);

    const bus = new ServiceBusClient(stack.broker.connectionString);
    const dlq = bus.createReceiver(QUEUES.import, { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 30_000 });
    expect(dead?.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    expect(dead?.messageId).toBe('chunk-1#3');
    await dlq.completeMessage(dead!);
    await dlq.close();
    await bus.close();

    const rescheduled = stack.logLines.filter((l) => l.event === 'message.rescheduled' && l.reason === 'transient');
    expect(rescheduled.map((l) => l.attempt)).toEqual([1, 2, 3]);
    const times = rescheduled.map((l) => Date.parse(String(l.at)) - Date.parse(String(l.time)));
    // Backoff grows: 30 s, 60 s, 120 s of real-world time at 600x.
    expect(times[1]!).toBeGreaterThan(times[0]!);
    expect(times[2]!).toBeGreaterThan(times[1]!);
    expect(stack.logLines.filter((l) => l.event === 'devhost.invocation-failed')).toHaveLength(3);
    // Claimed for import but never confirmed: the next import or poll reconciles it.
    expect((await stack.runtime.devices.get(device.serialNumber))?.value.state).toBe('importing');
    expect(sim.stats().injected5xx).toBeGreaterThanOrEqual(4);
  });
});
