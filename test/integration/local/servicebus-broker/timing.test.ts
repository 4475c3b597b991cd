import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiver } from '@azure/service-bus';
import { startServiceBusBroker, type ServiceBusBroker } from '../../../../local/servicebus-broker/index.js';

// Durations are a few hundred milliseconds so the file runs in seconds.
const LOCK_MS = 400;
const DEDUP_WINDOW_MS = 500;

let broker: ServiceBusBroker;
let client: ServiceBusClient;

beforeAll(async () => {
  broker = await startServiceBusBroker({
    queues: [
      { name: 'scheduled' },
      { name: 'cancelled' },
      { name: 'expiry', lockDurationMs: LOCK_MS },
      { name: 'renew', lockDurationMs: LOCK_MS },
      { name: 'autorenew', lockDurationMs: LOCK_MS },
      { name: 'dedup', duplicateDetectionWindowMs: DEDUP_WINDOW_MS },
      { name: 'nodedup' },
      { name: 'ttl' },
    ],
  });
  client = new ServiceBusClient(broker.connectionString);
});

afterAll(async () => {
  await client?.close();
  await broker?.stop();
});

async function receiveOne(receiver: ServiceBusReceiver, maxWaitTimeInMs = 2_000): Promise<ServiceBusReceivedMessage | undefined> {
  const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs });
  return message;
}

async function receiveBodies(receiver: ServiceBusReceiver, count: number): Promise<unknown[]> {
  const bodies: unknown[] = [];
  const deadline = Date.now() + 3_000;
  while (bodies.length < count && Date.now() < deadline) {
    const batch = await receiver.receiveMessages(count - bodies.length, { maxWaitTimeInMs: 500 });
    bodies.push(...batch.map((m) => m.body));
  }
  return bodies;
}

describe('Service Bus test broker: scheduled messages', () => {
  it('delivers a scheduled message at its time and never before', async () => {
    const sender = client.createSender('scheduled');
    const receiver = client.createReceiver('scheduled', { receiveMode: 'receiveAndDelete' });
    // Open every link first so the timings below measure the broker, not connection set-up.
    await receiver.peekMessages(1);
    await receiver.receiveMessages(1, { maxWaitTimeInMs: 10 });

    // Due in an hour: still scheduled however long this test takes, so "not yet" cannot race the clock.
    const inAnHour = new Date(Date.now() + 60 * 60_000);
    await sender.scheduleMessages({ body: 'in an hour', messageId: 'sched-later' }, inAnHour);
    await sender.sendMessages({ body: 'in an hour, via property', scheduledEnqueueTimeUtc: inAnHour });
    expect(broker.stats('scheduled')).toMatchObject({ active: 0, scheduled: 2 });

    const peeked = await receiver.peekMessages(5);
    expect(peeked.map((m) => [m.body, m.state, m.scheduledEnqueueTimeUtc])).toEqual([
      ['in an hour', 'scheduled', inAnHour],
      ['in an hour, via property', 'scheduled', inAnHour],
    ]);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);

    const due = new Date(Date.now() + 300);
    const [sequenceNumber] = await sender.scheduleMessages({ body: 'wake up', messageId: 'sched-1' }, due);
    await sender.sendMessages({ body: 'later, via property', scheduledEnqueueTimeUtc: due });
    const message = await receiveOne(receiver);
    // A lower bound only: a slow machine makes it later, never earlier.
    expect(Date.now()).toBeGreaterThanOrEqual(due.getTime());
    expect(message).toMatchObject({ body: 'wake up', messageId: 'sched-1', scheduledEnqueueTimeUtc: due });
    expect(message!.sequenceNumber!.equals(sequenceNumber!)).toBe(true);
    expect(message!.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(due.getTime());
    expect((await receiveOne(receiver))?.body).toBe('later, via property');
    expect(broker.stats('scheduled')).toMatchObject({ active: 0, scheduled: 2 });
    await Promise.all([sender.close(), receiver.close()]);
  });

  it('cancelScheduledMessages really cancels', async () => {
    const sender = client.createSender('cancelled');
    const due = new Date(Date.now() + 300);
    const [cancelled] = await sender.scheduleMessages({ body: 'never' }, due);
    await sender.scheduleMessages({ body: 'kept' }, due);
    await sender.cancelScheduledMessages(cancelled!);
    expect(broker.stats('cancelled').scheduled).toBe(1);

    await sleep(400);
    expect(broker.stats('cancelled')).toMatchObject({ active: 1, scheduled: 0 });
    const receiver = client.createReceiver('cancelled', { receiveMode: 'receiveAndDelete' });
    expect(await receiveBodies(receiver, 1)).toEqual(['kept']);
    await Promise.all([sender.close(), receiver.close()]);
  });
});

describe('Service Bus test broker: locks', () => {
  it('redelivers when a lock expires, and a late complete fails with MessageLockLost', async () => {
    await client.createSender('expiry').sendMessages({ body: 'slow work' });
    const receiver = client.createReceiver('expiry', { maxAutoLockRenewalDurationInMs: 0 });
    // The lock starts at delivery, which lies between these two readings whatever the machine's speed.
    const receiving = Date.now();
    const first = await receiveOne(receiver);
    const received = Date.now();
    expect(first!.deliveryCount).toBe(0);
    expect(first!.lockedUntilUtc!.getTime()).toBeGreaterThanOrEqual(receiving + LOCK_MS);
    expect(first!.lockedUntilUtc!.getTime()).toBeLessThanOrEqual(received + LOCK_MS);

    expect(broker.stats('expiry')).toMatchObject({ active: 0, locked: 1 });

    const second = await receiveOne(receiver);
    expect(Date.now()).toBeGreaterThanOrEqual(first!.lockedUntilUtc!.getTime());
    expect(second!.messageId).toBe(first!.messageId);
    expect(second!.deliveryCount).toBe(1);

    await expect(receiver.completeMessage(first!)).rejects.toMatchObject({ code: 'MessageLockLost' });
    await receiver.completeMessage(second!);
    expect(broker.stats('expiry')).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
    await receiver.close();
  });

  it('renewMessageLock extends the lock past its first expiry', async () => {
    await client.createSender('renew').sendMessages({ body: 'long job' });
    const receiver = client.createReceiver('renew', { maxAutoLockRenewalDurationInMs: 0 });
    const message = await receiveOne(receiver);
    const firstLockedUntil = message!.lockedUntilUtc!.getTime();

    await sleep(LOCK_MS / 2);
    const renewedUntil = await receiver.renewMessageLock(message!);
    expect(renewedUntil.getTime()).toBeGreaterThan(firstLockedUntil);

    await sleep(firstLockedUntil - Date.now() + 100);
    expect(broker.stats('renew')).toMatchObject({ active: 0, locked: 1 });
    await receiver.completeMessage(message!);
    await expect(receiver.renewMessageLock(message!)).rejects.toMatchObject({ code: 'MessageLockLost' });
    await receiver.close();
  });

  it("keeps the lock with the SDK's automatic renewal", async () => {
    await client.createSender('autorenew').sendMessages({ body: 'renewed for me' });
    const receiver = client.createReceiver('autorenew', { maxAutoLockRenewalDurationInMs: 10_000 });
    const message = await receiveOne(receiver);
    await sleep(LOCK_MS * 2.5);
    expect(broker.stats('autorenew')).toMatchObject({ active: 0, locked: 1 });
    await receiver.completeMessage(message!);
    await receiver.close();
  });
});

describe('Service Bus test broker: time to live', () => {
  it('drops a message whose timeToLive has passed', async () => {
    const sender = client.createSender('ttl');
    await sender.sendMessages([
      { body: 'short-lived', timeToLive: 200 },
      { body: 'long-lived', timeToLive: 60_000 },
    ]);
    await sleep(300);
    expect(broker.stats('ttl').active).toBe(1);
    const receiver = client.createReceiver('ttl', { receiveMode: 'receiveAndDelete' });
    expect(await receiveBodies(receiver, 1)).toEqual(['long-lived']);
    await Promise.all([sender.close(), receiver.close()]);
  });
});

describe('Service Bus test broker: duplicate detection', () => {
  it('drops a repeated messageId inside the window and accepts it after', async () => {
    const sender = client.createSender('dedup');
    await sender.sendMessages({ body: 'first', messageId: 'device-1' });
    await sender.sendMessages({ body: 'duplicate', messageId: 'device-1' });
    await sender.scheduleMessages({ body: 'scheduled duplicate', messageId: 'device-1' }, new Date(Date.now() + 100));
    await sender.sendMessages({ body: 'other', messageId: 'device-2' });
    expect(broker.stats('dedup')).toMatchObject({ active: 2, scheduled: 0 });
    const receiver = client.createReceiver('dedup', { receiveMode: 'receiveAndDelete' });
    expect(await receiveBodies(receiver, 2)).toEqual(['first', 'other']);
    // Receive-and-delete: delivered, never completed.
    expect(broker.traffic('dedup')).toEqual({ sent: 2, duplicates: 2, delivered: 2, completed: 0 });

    await sleep(DEDUP_WINDOW_MS + 50);
    await sender.sendMessages({ body: 'after the window', messageId: 'device-1' });
    expect(broker.stats('dedup')).toMatchObject({ active: 1 });
    expect(await receiveBodies(receiver, 1)).toEqual(['after the window']);
    await Promise.all([sender.close(), receiver.close()]);
  });

  it('delivers every copy when the queue has no duplicate detection', async () => {
    const sender = client.createSender('nodedup');
    await sender.sendMessages([
      { body: 1, messageId: 'same' },
      { body: 2, messageId: 'same' },
    ]);
    expect(broker.stats('nodedup').active).toBe(2);
    const receiver = client.createReceiver('nodedup', { receiveMode: 'receiveAndDelete' });
    expect(await receiveBodies(receiver, 2)).toEqual([1, 2]);
    await Promise.all([sender.close(), receiver.close()]);
  });
});

describe('Service Bus test broker: lifecycle', () => {
  it('stop() closes live connections and the listener', async () => {
    const own = await startServiceBusBroker({ queues: [{ name: 'q' }] });
    const ownClient = new ServiceBusClient(own.connectionString);
    await ownClient.createSender('q').sendMessages({ body: 'x' });
    await own.stop();
    await ownClient.close();
    const refused = await new Promise<string | undefined>((resolve) => {
      const socket = connect(own.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
