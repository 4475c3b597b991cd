import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followUpOptions } from '../../functions/follow-up.js';
import { DevHost } from '../../local/dev-host/index.js';
import { startGraphSimulator, type GraphSimulator } from '../../local/graph-simulator/index.js';
import { Random, sampleDevice } from '../../local/sample-data.js';
import { QUEUES } from '../../shared/messages/index.js';
import { newDevice, transition } from '../../shared/domain/device.js';
import type { PoisonRecord } from '../../shared/services/ports.js';
import { pipelineQueueOptions } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Transient Graph faults are retried by rescheduling with backoff, never by sleeping; when
 * they outlast the retry limit the work is set aside with its reason (table `sweeper`,
 * partition `poison`, reason `retries-exhausted`) and its message completed: no delivery
 * after the last attempt calls Graph, none comes without backoff, and nothing is lost
 * silently — the device stays where it was.
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
      { queues: pipelineQueueOptions({ maxDeliveryCount: 3, lockDurationMs: 500 }) },
    );
    host = new DevHost({
      serviceBusConnectionString: stack.broker.connectionString,
      storageConnectionString: stack.storageConnectionString,
      log: stack.runtime.log,
    }).serviceBusQueue('followUp', followUpOptions);
    await host.start();
  });

  afterAll(async () => {
    await host?.stop();
    await stack?.stop();
    await sim?.stop();
  });

  it('reschedules with backoff up to the retry limit, then sets the work aside instead of redelivering it at once', async () => {
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
    // Registered in Autopilot under no tag, while its file asks for MPS-STD: a re-tag to do,
    // whose first step (reading the identity) meets a 5xx every time.
    let saved = await stack.runtime.devices.create(record, event);
    for (const [to, reason] of [
      ['importing', 'import-submitted'],
      ['registered', 'import-complete'],
    ] as const) {
      const next = transition(saved.value, {
        to,
        reason,
        correlationId: 'c',
        now,
        changes: to === 'registered' ? { autopilotId: 'ap-1' } : {},
      });
      saved = await stack.runtime.devices.save(next.record, saved, next.event);
    }
    await stack.runtime.queue.send(QUEUES.followup, [
      { kind: 'retag', correlationId: 'dlq-test', messageId: 'retag-1', payload: { serialNumber: device.serialNumber, generation: 1 } },
    ]);

    const parked = async (): Promise<PoisonRecord | undefined> => {
      for await (const found of stack.runtime.pipelineDeps().poison.list()) if (found.messageId === 'retag-1#3') return found;
      return undefined;
    };
    await expect.poll(parked, { timeout: 30_000, interval: 100 }).toBeDefined();
    await host.idle();
    // A few lock periods more: a message left to redelivery would be back by then.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await host.idle();

    expect(await parked()).toMatchObject({
      queue: QUEUES.followup,
      kind: 'retag',
      correlationId: 'dlq-test',
      reason: 'retries-exhausted',
      description: expect.stringContaining('after 3 transient retries'),
    });
    const exhausted = stack.logLines.filter((l) => l.event === 'message.retries-exhausted');
    expect(exhausted).toEqual([expect.objectContaining({ messageId: 'retag-1#3', attempt: 3, maxTransientRetries: 3, level: 'error' })]);
    // Completed, not dead-lettered, not redelivered.
    expect(stack.broker.stats(QUEUES.followup)).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
    expect(stack.logLines.filter((l) => l.event === 'devhost.invocation-failed')).toEqual([]);
    const rescheduled = stack.logLines.filter((l) => l.event === 'message.rescheduled' && l.reason === 'transient');
    expect(rescheduled.map((l) => l.attempt)).toEqual([1, 2, 3]);
    const times = rescheduled.map((l) => Date.parse(String(l.at)) - Date.parse(String(l.time)));
    // Backoff grows: 30 s, 60 s, 120 s of real-world time at 600x.
    expect(times[1]!).toBeGreaterThan(times[0]!);
    expect(times[2]!).toBeGreaterThan(times[1]!);
    // Left where it was, its tag still to do: the Autopilot poll reconciles it.
    expect((await stack.runtime.devices.get(device.serialNumber))?.value).toMatchObject({ state: 'registered', groupTag: 'MPS-STD' });
    // One Graph request per attempt (a read of the identity), and none after the last: 4 in
    // all, each answered with a 5xx.
    expect(sim.stats()).toMatchObject({ total: 4, injected5xx: 4 });
  });
});
