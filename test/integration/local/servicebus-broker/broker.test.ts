import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiver } from '@azure/service-bus';
import { startServiceBusBroker, type ServiceBusBroker } from '../../../../local/servicebus-broker/index.js';

// Every test has its own queue so they cannot see each other's messages.
const QUEUES = [
  'props',
  'complete',
  'abandon',
  'deadletter',
  'maxdelivery',
  'peek',
  'receive-delete',
  'subscribe',
  'concurrent',
  'turns',
  'defer',
  'casing',
];

let broker: ServiceBusBroker;
let client: ServiceBusClient;

beforeAll(async () => {
  broker = await startServiceBusBroker({
    queues: QUEUES.map((name) => (name === 'maxdelivery' ? { name, maxDeliveryCount: 2 } : { name })),
  });
  client = new ServiceBusClient(broker.connectionString);
});

afterAll(async () => {
  await client?.close();
  await broker?.stop();
});

async function send(queue: string, ...bodies: unknown[]): Promise<void> {
  const sender = client.createSender(queue);
  await sender.sendMessages(bodies.map((body) => ({ body })));
  await sender.close();
}

async function receiveExactly(receiver: ServiceBusReceiver, count: number): Promise<ServiceBusReceivedMessage[]> {
  const received: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 5_000;
  while (received.length < count && Date.now() < deadline) {
    received.push(...(await receiver.receiveMessages(count - received.length, { maxWaitTimeInMs: 1_000 })));
  }
  return received;
}

async function expectEmpty(receiver: ServiceBusReceiver): Promise<void> {
  expect(await receiver.receiveMessages(5, { maxWaitTimeInMs: 250 })).toEqual([]);
}

describe('Service Bus test broker: sending and message properties', () => {
  it('keeps every property the sender set and stamps sequence number and enqueued time', async () => {
    const sender = client.createSender('props');
    const before = Date.now();
    await sender.sendMessages({
      body: { device: 'PF3ABC12', tags: ['a', 'b'], count: 3 },
      messageId: 'msg-1',
      contentType: 'application/json',
      correlationId: 'corr-1',
      subject: 'device.imported',
      timeToLive: 60_000,
      applicationProperties: { tenant: 'contoso', attempt: 2, urgent: true },
    });
    await sender.sendMessages([{ body: 'text' }, { body: 42 }, { body: [1, 'two'] }, { body: true }]);
    const batch = await sender.createMessageBatch();
    expect(batch.tryAddMessage({ body: { batched: 1 } })).toBe(true);
    expect(batch.tryAddMessage({ body: { batched: 2 } })).toBe(true);
    await sender.sendMessages(batch);
    const after = Date.now();
    await sender.close();

    const receiver = client.createReceiver('props', { receiveMode: 'receiveAndDelete' });
    const messages = await receiveExactly(receiver, 7);
    await receiver.close();

    expect(messages.map((m) => m.body)).toEqual([
      { device: 'PF3ABC12', tags: ['a', 'b'], count: 3 },
      'text',
      42,
      [1, 'two'],
      true,
      { batched: 1 },
      { batched: 2 },
    ]);
    const first = messages[0]!;
    expect(first).toMatchObject({
      messageId: 'msg-1',
      contentType: 'application/json',
      correlationId: 'corr-1',
      subject: 'device.imported',
      timeToLive: 60_000,
      applicationProperties: { tenant: 'contoso', attempt: 2, urgent: true },
      deliveryCount: 0,
    });
    const sequenceNumbers = messages.map((m) => m.sequenceNumber!.toNumber());
    expect(sequenceNumbers).toEqual([...sequenceNumbers].sort((a, b) => a - b));
    expect(new Set(sequenceNumbers).size).toBe(7);
    for (const message of messages) {
      expect(message.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(before);
      expect(message.enqueuedTimeUtc!.getTime()).toBeLessThanOrEqual(after);
      // The service assigns an id when the sender gives none.
      expect(typeof message.messageId).toBe('string');
    }
    expect(new Set(messages.map((m) => m.messageId)).size).toBe(7);
  });

  it('refuses an unknown queue with MessagingEntityNotFound and keeps serving', async () => {
    const sender = client.createSender('no-such-queue');
    await expect(sender.sendMessages({ body: 1 })).rejects.toMatchObject({ code: 'MessagingEntityNotFound' });
    const receiver = client.createReceiver('no-such-queue');
    await expect(receiver.receiveMessages(1, { maxWaitTimeInMs: 500 })).rejects.toMatchObject({ code: 'MessagingEntityNotFound' });
    await expect(receiver.peekMessages(1)).rejects.toMatchObject({ code: 'MessagingEntityNotFound' });

    await send('casing', 'still here');
    const known = client.createReceiver('CASING', { receiveMode: 'receiveAndDelete' });
    expect((await receiveExactly(known, 1)).map((m) => m.body)).toEqual(['still here']);
    await known.close();
  });
});

describe('Service Bus test broker: settlement', () => {
  it('complete removes the message for good', async () => {
    await send('complete', 'done');
    const receiver = client.createReceiver('complete');
    const [message] = await receiveExactly(receiver, 1);
    expect(broker.stats('complete')).toMatchObject({ active: 0, locked: 1 });
    await receiver.completeMessage(message!);
    expect(broker.stats('complete')).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
    expect(broker.traffic('complete')).toEqual({ sent: 1, duplicates: 0, delivered: 1, completed: 1 });
    await expectEmpty(receiver);
    await receiver.close();
  });

  it('abandon redelivers with deliveryCount + 1 and the modified properties', async () => {
    await send('abandon', 'retry me');
    const receiver = client.createReceiver('abandon');
    const [first] = await receiveExactly(receiver, 1);
    expect(first!.deliveryCount).toBe(0);
    await receiver.abandonMessage(first!, { lastError: 'graph timeout' });

    const [second] = await receiveExactly(receiver, 1);
    expect(second!.messageId).toBe(first!.messageId);
    expect(second!.deliveryCount).toBe(1);
    expect(second!.applicationProperties).toMatchObject({ lastError: 'graph timeout' });
    expect(second!.lockToken).not.toBe(first!.lockToken);
    await receiver.completeMessage(second!);
    await receiver.close();
  });

  it('dead-letters explicitly, keeping reason and description, and the DLQ can be received', async () => {
    await send('deadletter', { poison: true });
    const receiver = client.createReceiver('deadletter');
    const [message] = await receiveExactly(receiver, 1);
    await receiver.deadLetterMessage(message!, { deadLetterReason: 'InvalidHash', deadLetterErrorDescription: 'row 3 is not base64' });
    await expectEmpty(receiver);
    expect(broker.stats('deadletter')).toMatchObject({ active: 0, locked: 0, deadLettered: 1 });

    const dlq = client.createReceiver('deadletter', { subQueueType: 'deadLetter' });
    const [dead] = await receiveExactly(dlq, 1);
    expect(dead).toMatchObject({
      body: { poison: true },
      messageId: message!.messageId,
      deadLetterReason: 'InvalidHash',
      deadLetterErrorDescription: 'row 3 is not base64',
      deadLetterSource: 'deadletter',
    });
    await dlq.completeMessage(dead!);
    expect(broker.stats('deadletter').deadLettered).toBe(0);
    await Promise.all([receiver.close(), dlq.close()]);
  });

  it('moves a message abandoned maxDeliveryCount times to the DLQ as MaxDeliveryCountExceeded', async () => {
    await send('maxdelivery', 'keeps failing');
    const receiver = client.createReceiver('maxdelivery');
    for (const expectedCount of [0, 1]) {
      const [message] = await receiveExactly(receiver, 1);
      expect(message!.deliveryCount).toBe(expectedCount);
      await receiver.abandonMessage(message!);
    }
    await expectEmpty(receiver);

    const dlq = client.createReceiver('maxdelivery', { subQueueType: 'deadLetter', receiveMode: 'receiveAndDelete' });
    const [dead] = await receiveExactly(dlq, 1);
    expect(dead!.body).toBe('keeps failing');
    expect(dead!.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    await Promise.all([receiver.close(), dlq.close()]);
  });

  it('defers a message so only receiveDeferredMessages returns it', async () => {
    await send('defer', 'later');
    const receiver = client.createReceiver('defer');
    const [message] = await receiveExactly(receiver, 1);
    await receiver.deferMessage(message!);
    await expectEmpty(receiver);

    const [deferred] = await receiver.receiveDeferredMessages(message!.sequenceNumber!);
    expect(deferred!.body).toBe('later');
    await receiver.completeMessage(deferred!);
    await expect(receiver.receiveDeferredMessages(message!.sequenceNumber!)).rejects.toMatchObject({ code: 'MessageNotFound' });
    expect(broker.stats('defer')).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
    await receiver.close();
  });
});

describe('Service Bus test broker: receiving', () => {
  it('peek neither locks nor consumes, and honours fromSequenceNumber', async () => {
    await send('peek', 'a', 'b', 'c');
    const receiver = client.createReceiver('peek');
    const peeked = await receiver.peekMessages(10);
    expect(peeked.map((m) => m.body)).toEqual(['a', 'b', 'c']);
    expect(peeked.every((m) => m.lockToken === undefined)).toBe(true);
    expect(broker.stats('peek')).toMatchObject({ active: 3, locked: 0 });

    const fromSecond = await receiver.peekMessages(10, { fromSequenceNumber: peeked[1]!.sequenceNumber! });
    expect(fromSecond.map((m) => m.body)).toEqual(['b', 'c']);
    // Each peek is a management request, and the broker's log says which entity it went to.
    const peeks = broker.managementLog().filter((entry) => entry.operation === 'com.microsoft:peek-message' && entry.entity === 'peek');
    expect(peeks).toHaveLength(2);

    const received = await receiveExactly(receiver, 3);
    expect(received.map((m) => [m.body, m.deliveryCount])).toEqual([
      ['a', 0],
      ['b', 0],
      ['c', 0],
    ]);
    await Promise.all(received.map((m) => receiver.completeMessage(m)));
    await receiver.close();
  });

  it('receiveAndDelete hands out messages without locks and removes them', async () => {
    await send('receive-delete', 1, 2);
    const receiver = client.createReceiver('receive-delete', { receiveMode: 'receiveAndDelete' });
    const received = await receiveExactly(receiver, 2);
    expect(received.map((m) => m.body)).toEqual([1, 2]);
    expect(received.every((m) => m.lockToken === undefined)).toBe(true);
    expect(broker.stats('receive-delete')).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
    expect(await receiver.peekMessages(5)).toEqual([]);
    await receiver.close();
  });

  it('streams to subscribe() handlers and completes them', async () => {
    await send('subscribe', 1, 2, 3, 4, 5);
    const receiver = client.createReceiver('subscribe');
    const bodies: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const subscription = receiver.subscribe(
        {
          processMessage: async (message) => {
            bodies.push(message.body);
            if (bodies.length === 5) resolve();
          },
          processError: async ({ error }) => reject(error),
        },
        { maxConcurrentCalls: 2 },
      );
      setTimeout(() => void subscription.close().then(() => reject(new Error(`only got ${bodies.length}`))), 5_000).unref();
    });
    await receiver.close();
    expect([...bodies].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(broker.stats('subscribe')).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
  });

  it('gives concurrent receivers distinct messages', async () => {
    await send('concurrent', ...Array.from({ length: 10 }, (_, i) => i));
    const first = client.createReceiver('concurrent');
    const second = client.createReceiver('concurrent');
    const [a, b] = await Promise.all([receiveExactly(first, 5), receiveExactly(second, 5)]);
    expect(a).toHaveLength(5);
    expect(b).toHaveLength(5);
    const bodies = [...a, ...b].map((m) => m.body as number).sort((x, y) => x - y);
    expect(bodies).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(broker.stats('concurrent')).toMatchObject({ active: 0, locked: 10 });
    await Promise.all([...a.map((m) => first.completeMessage(m)), ...b.map((m) => second.completeMessage(m))]);
    await Promise.all([first.close(), second.close()]);
  });

  it('lets subscribed receivers with room take turns when messages come one at a time', async () => {
    // Two app instances on one queue: neither may take every message just because it attached first.
    const taken = [0, 0];
    const receivers = [client.createReceiver('turns'), client.createReceiver('turns')];
    const subscriptions = receivers.map((receiver, index) =>
      receiver.subscribe(
        {
          processMessage: async () => {
            taken[index]! += 1;
          },
          processError: async () => undefined,
        },
        { maxConcurrentCalls: 8 },
      ),
    );
    const sender = client.createSender('turns');
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let i = 0; i < 6; i++) {
      await sender.sendMessages({ body: i });
      for (let wait = 0; taken[0]! + taken[1]! <= i && wait < 100; wait++) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
    await Promise.all([sender.close(), ...receivers.map((receiver) => receiver.close())]);
    expect(taken[0]! + taken[1]!).toBe(6);
    expect(taken).toEqual([3, 3]);
  });
});
