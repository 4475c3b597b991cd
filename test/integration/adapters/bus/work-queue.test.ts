import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../../shared/adapters/bus/work-queue.js';
import { parseEnvelope, type OutgoingMessage } from '../../../../shared/messages/index.js';
import { startServiceBusBroker, type ServiceBusBroker } from '../../../../local/servicebus-broker/index.js';

describe('WorkQueue through the real SDK and the test broker', () => {
  let broker: ServiceBusBroker;
  let client: ServiceBusClient;
  let queue: WorkQueue;

  beforeAll(async () => {
    broker = await startServiceBusBroker({
      queues: [
        { name: 'work', duplicateDetectionWindowMs: 60_000 },
        { name: 'later', duplicateDetectionWindowMs: 60_000 },
        { name: 'big', duplicateDetectionWindowMs: 60_000 },
      ],
    });
    client = new ServiceBusClient(broker.connectionString);
    queue = new WorkQueue(client);
  });

  afterAll(async () => {
    await queue.close();
    await client.close();
    await broker.stop();
  });

  const message = (id: string, payload: unknown = { n: id }): OutgoingMessage => ({
    kind: 'test-kind',
    correlationId: `corr-${id}`,
    messageId: id,
    payload,
  });

  it('sends typed envelopes that read back with kind, correlation id and payload', async () => {
    await queue.send('work', [message('a', { serials: ['S1', 'S2'] }), message('b')]);
    const receiver = client.createReceiver('work');
    const received = await receiver.receiveMessages(10, { maxWaitTimeInMs: 2000 });
    expect(received.map((m) => m.messageId).sort()).toEqual(['a', 'b']);
    const first = received.find((m) => m.messageId === 'a')!;
    expect(first.subject).toBe('test-kind');
    expect(first.correlationId).toBe('corr-a');
    expect(parseEnvelope(first.body)).toEqual({
      ok: true,
      envelope: { kind: 'test-kind', correlationId: 'corr-a', payload: { serials: ['S1', 'S2'] } },
    });
    for (const m of received) await receiver.completeMessage(m);
    await receiver.close();
  });

  it('drops the same logical work sent twice (same message id)', async () => {
    await queue.send('work', [message('dup-1')]);
    await queue.send('work', [message('dup-1'), message('dup-2')]);
    const receiver = client.createReceiver('work');
    const received = await receiver.receiveMessages(10, { maxWaitTimeInMs: 1500 });
    expect(received.map((m) => m.messageId).sort()).toEqual(['dup-1', 'dup-2']);
    for (const m of received) await receiver.completeMessage(m);
    await receiver.close();
  });

  it('schedules work that is not delivered before its time', async () => {
    // An hour is beyond any test run however slow the machine: that message must stay put.
    const inAnHour = new Date(Date.now() + 60 * 60_000);
    const soon = new Date(Date.now() + 300);
    await queue.schedule('later', [message('s-later')], inAnHour);
    await queue.schedule('later', [message('s-soon')], soon);
    const receiver = client.createReceiver('later');
    const [delivered] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    expect(delivered?.messageId).toBe('s-soon');
    expect(Date.now()).toBeGreaterThanOrEqual(soon.getTime());
    expect(delivered!.scheduledEnqueueTimeUtc).toEqual(soon);
    expect(delivered!.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(soon.getTime());
    await receiver.completeMessage(delivered!);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 700 })).toHaveLength(0);
    const waiting = await receiver.peekMessages(5);
    expect(waiting.map((m) => [m.messageId, m.state, m.scheduledEnqueueTimeUtc])).toEqual([['s-later', 'scheduled', inAnHour]]);
    await receiver.close();
  });

  it('splits many messages over several batches without losing any', async () => {
    const padding = 'x'.repeat(20_000);
    const many = Array.from({ length: 120 }, (_, i) => message(`m${i}`, { padding, i }));
    await queue.send('big', many);
    const receiver = client.createReceiver('big');
    const seen = new Set<string>();
    while (seen.size < many.length) {
      const batch = await receiver.receiveMessages(50, { maxWaitTimeInMs: 2000 });
      if (batch.length === 0) break;
      for (const m of batch) {
        seen.add(String(m.messageId));
        await receiver.completeMessage(m);
      }
    }
    expect(seen.size).toBe(120);
    await receiver.close();
  });

  it('refuses a body that is not an envelope', () => {
    expect(parseEnvelope({ hello: 'world' })).toMatchObject({
      ok: false,
      reason: 'not-an-envelope',
      description: expect.stringMatching(/body\.kind/),
    });
    expect(parseEnvelope('not json')).toMatchObject({ ok: false, reason: 'not-an-envelope' });
  });
});
