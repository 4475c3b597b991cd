import { TableClient, odata } from '@azure/data-tables';
import type { InvocationContext, ServiceBusQueueFunctionOptions } from '@azure/functions';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import Long from 'long';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followUpOptions } from '../../../../functions/follow-up.js';
import { importDevicesOptions } from '../../../../functions/import-devices.js';
import { DevHost } from '../../../../local/dev-host/index.js';
import { startGraphSimulator, type GraphSimulator } from '../../../../local/graph-simulator/index.js';
import { Random, sampleDevice } from '../../../../local/sample-data.js';
import { pipelineQueueOptions } from '../../../../local/stack.js';
import { newDevice } from '../../../../shared/domain/device.js';
import { QUEUES, type QueueName } from '../../../../shared/messages/index.js';
import { startTestStack, type TestStack } from '../../../support/stack.js';

/**
 * Poison through the real trigger path: the function options the app registers, run by the dev
 * host against the Service Bus test broker and Azurite. A message that cannot be read is set
 * aside on its first delivery — one record, one error line — and completed, so the broker never
 * hands it out again; nothing of its content reaches a device or Graph.
 *
 * Locks are short so that "not redelivered" can be checked by waiting a few lock periods: a
 * message left locked or abandoned would be back within one.
 */

const LOCK_MS = 1_000;
const QUIET_MS = 3 * LOCK_MS;
const SETTLE_TIMEOUT_MS = 20_000;

interface Invocation {
  readonly messageId: string;
  /** As the SDK gives it (AMQP delivery-count): deliveries before this one, so 0 on the first. */
  readonly deliveryCount: number;
}

let sim: GraphSimulator;
let stack: TestStack;
let host: DevHost;
let bus: ServiceBusClient;
let poisonTable: TableClient;
const invocations: Invocation[] = [];
/** Messages whose first delivery is lost after the function ran, as when the host dies before settling it. */
const loseFirstDelivery = new Set<string>();
/** A received device whose serial the poison messages name: whatever they carry must not reach it. */
let bystander: { serialNumber: string; etag: string };

/**
 * The app's own function options, with every invocation noted (the broker counts no deliveries)
 * and the real handler doing the work.
 */
function observed(options: ServiceBusQueueFunctionOptions): ServiceBusQueueFunctionOptions {
  return {
    ...options,
    handler: async (message: unknown, context: InvocationContext) => {
      const messageId = String(context.triggerMetadata?.messageId);
      invocations.push({ messageId, deliveryCount: Number(context.triggerMetadata?.deliveryCount) });
      await options.handler(message, context);
      if (loseFirstDelivery.delete(messageId)) throw new Error('host stopped before settling the message');
    },
  };
}

async function send(queue: QueueName, messageId: string, body: unknown): Promise<void> {
  const sender = bus.createSender(queue);
  try {
    await sender.sendMessages({ messageId, contentType: 'application/json', body });
  } finally {
    await sender.close();
  }
}

async function peekAll(queue: QueueName, deadLetter: boolean): Promise<ServiceBusReceivedMessage[]> {
  const receiver = bus.createReceiver(queue, deadLetter ? { subQueueType: 'deadLetter' } : {});
  try {
    return await receiver.peekMessages(100, { fromSequenceNumber: Long.ZERO });
  } finally {
    await receiver.close();
  }
}

function invocationsOf(messageId: string): Invocation[] {
  return invocations.filter((invocation) => invocation.messageId === messageId);
}

/**
 * Sends one message and waits until it was handled and the queue holds nothing, then a few
 * lock periods more; afterwards the message must be gone from the queue and its dead-letter
 * queue, so no delivery beyond those counted can still come. The dead-letter count is compared
 * with its own before the send, so one case's leftovers do not decide another's.
 */
async function deliver(queue: QueueName, messageId: string, body: unknown, deliveries = 1): Promise<Invocation[]> {
  const before = stack.broker.stats(queue);
  await send(queue, messageId, body);
  const drained = (): boolean => {
    const stats = stack.broker.stats(queue);
    return invocationsOf(messageId).length >= deliveries && stats.active + stats.locked + stats.scheduled === 0;
  };
  await expect.poll(drained, { timeout: SETTLE_TIMEOUT_MS, interval: 50 }).toBe(true);
  await host.idle();
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  await host.idle();
  expect(stack.broker.stats(queue)).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: before.deadLettered });
  expect((await peekAll(queue, false)).map((message) => message.messageId)).toEqual([]);
  expect((await peekAll(queue, true)).map((message) => message.messageId)).not.toContain(messageId);
  return invocationsOf(messageId);
}

function poisonedLines(messageId: string): Record<string, unknown>[] {
  return stack.logLines.filter((line) => line.event === 'message.poisoned' && line.messageId === messageId);
}

/** The rows an operator finds in storage: table `sweeper`, partition `poison`. */
async function poisonRows(messageId: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const entity of poisonTable.listEntities<Record<string, unknown>>({
    queryOptions: { filter: odata`PartitionKey eq 'poison' and messageId eq ${messageId}` },
  })) {
    rows.push(entity);
  }
  return rows;
}

/** Poison must leave the device it names as it was and send nothing to Graph. */
async function expectNothingTouched(): Promise<void> {
  const device = await stack.runtime.devices.get(bystander.serialNumber);
  expect(device?.etag).toBe(bystander.etag);
  expect(device?.value.state).toBe('received');
  expect(await stack.runtime.devices.history(bystander.serialNumber)).toHaveLength(1);
  expect(sim.stats().total).toBe(0);
  expect(sim.requestLog()).toEqual([]);
}

beforeAll(async () => {
  sim = await startGraphSimulator({ token: 't' });
  stack = await startTestStack(
    { GRAPH_BASE_URL: sim.baseUrl, GRAPH_STATIC_TOKEN: 't' },
    // As infra creates them (duplicate detection on, ten deliveries), only with short locks.
    { queues: pipelineQueueOptions({ lockDurationMs: LOCK_MS }) },
  );
  bus = new ServiceBusClient(stack.broker.connectionString);
  poisonTable = TableClient.fromConnectionString(stack.storageConnectionString, 'sweeper', { allowInsecureConnection: true });

  const device = sampleDevice(new Random(11));
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
    'c-bystander',
    new Date(),
  );
  const created = await stack.runtime.devices.create(record, event);
  bystander = { serialNumber: device.serialNumber, etag: created.etag };

  host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
  })
    .serviceBusQueue('importDevices', observed(importDevicesOptions))
    .serviceBusQueue('followUp', observed(followUpOptions));
  await host.start();
});

afterAll(async () => {
  await host?.stop();
  await bus?.close();
  await stack?.stop();
  await sim?.stop();
});

describe('poison messages are set aside once and completed', () => {
  it('an unknown kind: parked as unknown-kind, naming the kind and the queue', async () => {
    const messageId = 'poison-unknown-kind';
    const body = { kind: 'wipe-everything', correlationId: 'c-unknown', payload: { serialNumbers: [bystander.serialNumber] } };

    expect(await deliver(QUEUES.import, messageId, body)).toEqual([{ messageId, deliveryCount: 0 }]);
    const description = 'kind "wipe-everything" is not a message of ztp-import (it carries import-chunk)';
    const lines = poisonedLines(messageId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      queue: QUEUES.import,
      messageId,
      kind: 'wipe-everything',
      correlationId: 'c-unknown',
      reason: 'unknown-kind',
      description,
    });
    const rows = await poisonRows(messageId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      partitionKey: 'poison',
      queue: QUEUES.import,
      messageId,
      kind: 'wipe-everything',
      correlationId: 'c-unknown',
      reason: 'unknown-kind',
      description,
    });
    await expectNothingTouched();
  });

  it('a known kind with an invalid payload: parked as invalid-payload, naming the fields and none of their values', async () => {
    const messageId = 'poison-invalid-payload';
    const canary = 'CANARY-7f3a9c';
    // A lenient reader might take a lone string for a one-serial list; it must not.
    const body = {
      kind: 'import-chunk',
      correlationId: 'c-invalid',
      payload: { source: { kind: canary }, serialNumbers: bystander.serialNumber },
    };

    expect(await deliver(QUEUES.import, messageId, body)).toEqual([{ messageId, deliveryCount: 0 }]);
    const lines = poisonedLines(messageId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      queue: QUEUES.import,
      messageId,
      kind: 'import-chunk',
      correlationId: 'c-invalid',
      reason: 'invalid-payload',
    });
    const rows = await poisonRows(messageId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      queue: QUEUES.import,
      messageId,
      kind: 'import-chunk',
      correlationId: 'c-invalid',
      reason: 'invalid-payload',
    });
    for (const description of [String(lines[0]?.description), String(rows[0]?.description)]) {
      expect(description).toMatch(/^import-chunk: /);
      expect(description).toContain('payload.serialNumbers');
      expect(description).toContain('payload.source.kind');
      expect(description).not.toContain(canary);
      expect(description).not.toContain(bystander.serialNumber);
    }
    // Nor anywhere else on the line, the message text included.
    expect(JSON.stringify(lines[0])).not.toContain(canary);
    expect(JSON.stringify(lines[0])).not.toContain(bystander.serialNumber);
    // The record keeps the body itself, so an operator can fix and replay the message; nothing else carries its values.
    const { body: kept, ...described } = rows[0] ?? {};
    expect(JSON.parse(String(kept))).toMatchObject({ kind: 'import-chunk', correlationId: 'c-invalid' });
    expect(String(kept)).toContain(canary);
    expect(JSON.stringify(described)).not.toContain(canary);
    await expectNothingTouched();
  });

  it('the same poison message delivered twice: one record, one log line', async () => {
    // A kind sent to the wrong queue; its first delivery is lost after it was parked.
    const messageId = 'poison-redelivered';
    const body = {
      kind: 'import-chunk',
      correlationId: 'c-twice',
      payload: { source: { kind: 'sweeper' }, serialNumbers: [bystander.serialNumber] },
    };
    loseFirstDelivery.add(messageId);

    expect(await deliver(QUEUES.followup, messageId, body, 2)).toEqual([
      { messageId, deliveryCount: 0 },
      { messageId, deliveryCount: 1 },
    ]);
    expect(stack.logLines.filter((line) => line.event === 'devhost.invocation-failed' && line.messageId === messageId)).toHaveLength(1);
    const lines = poisonedLines(messageId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      queue: QUEUES.followup,
      reason: 'unknown-kind',
      description: 'kind "import-chunk" is not a message of ztp-followup (it carries tick, retag, redrive, ingest)',
    });
    const rows = await poisonRows(messageId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ queue: QUEUES.followup, messageId, kind: 'import-chunk', reason: 'unknown-kind' });
    await expectNothingTouched();
  });

  it.each([
    { name: 'a plain string', messageId: 'poison-string', body: 'wipe everything' },
    { name: 'an object without kind, correlationId or payload', messageId: 'poison-object', body: { hello: 'world' } },
  ])('$name on ztp-followup: parked as not-an-envelope', async ({ messageId, body }) => {
    expect(await deliver(QUEUES.followup, messageId, body)).toEqual([{ messageId, deliveryCount: 0 }]);
    const lines = poisonedLines(messageId);
    expect(lines).toHaveLength(1);
    // Nothing of an envelope could be read, so the line says so rather than leaving fields out.
    expect(lines[0]).toMatchObject({
      level: 'error',
      queue: QUEUES.followup,
      messageId,
      kind: null,
      correlationId: null,
      reason: 'not-an-envelope',
    });
    expect(String(lines[0]?.description)).toMatch(/^not a work envelope \{kind, correlationId, payload\}: body/);
    const rows = await poisonRows(messageId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ queue: QUEUES.followup, messageId, reason: 'not-an-envelope', description: lines[0]?.description });
    expect(rows[0]).not.toHaveProperty('kind');
    expect(rows[0]).not.toHaveProperty('correlationId');
    await expectNothingTouched();
  });

  it('a valid import-chunk for an unknown serial is ordinary work, not poison', async () => {
    const messageId = 'valid-unknown-serial';
    const body = {
      kind: 'import-chunk',
      correlationId: 'c-valid',
      payload: { source: { kind: 'sweeper' }, serialNumbers: ['NO-SUCH-SERIAL-1'] },
    };

    expect(await deliver(QUEUES.import, messageId, body)).toEqual([{ messageId, deliveryCount: 0 }]);
    expect(poisonedLines(messageId)).toEqual([]);
    expect(await poisonRows(messageId)).toEqual([]);
    expect(stack.logLines.filter((line) => line.messageId === messageId && line.event === 'devhost.invocation-failed')).toEqual([]);
    expect(await stack.runtime.devices.get('NO-SUCH-SERIAL-1')).toBeUndefined();
    await expectNothingTouched();
  });
});

describe('work past the retry limit is not run again', () => {
  it('an import chunk whose attempt is past the limit: set aside as retries-exhausted without calling Graph, and completed', async () => {
    // Attempt 9 with the limit at 8 (ZTP_MAX_TRANSIENT_RETRIES' default): a copy left from
    // before the limit was lowered, or an operator's replay of a given-up message.
    const device = sampleDevice(new Random(12));
    const { record, event } = newDevice(
      { serialNumber: device.serialNumber, supplierId: 'contoso', batchId: 'b', line: 3, hardwareHash: device.hardwareHash },
      'received',
      'accepted-from-file',
      'c-exhausted',
      new Date(),
    );
    const created = await stack.runtime.devices.create(record, event);
    const messageId = 'work-1#9';
    const body = {
      kind: 'import-chunk',
      correlationId: 'c-exhausted',
      attempt: 9,
      workId: 'work-1',
      payload: { source: { kind: 'sweeper' }, serialNumbers: [device.serialNumber] },
    };

    expect(await deliver(QUEUES.import, messageId, body)).toEqual([{ messageId, deliveryCount: 0 }]);

    // Not run: no Graph call, the device as it was.
    expect(sim.requestLog()).toEqual([]);
    expect((await stack.runtime.devices.get(device.serialNumber))?.etag).toBe(created.etag);
    const lines = stack.logLines.filter((line) => line.event === 'message.retries-exhausted' && line.messageId === messageId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      queue: QUEUES.import,
      kind: 'import-chunk',
      correlationId: 'c-exhausted',
      attempt: 9,
      maxTransientRetries: 8,
    });
    const rows = await poisonRows(messageId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      queue: QUEUES.import,
      kind: 'import-chunk',
      correlationId: 'c-exhausted',
      reason: 'retries-exhausted',
    });
    expect(JSON.parse(String(rows[0]?.body))).toMatchObject({ attempt: 9, payload: { serialNumbers: [device.serialNumber] } });
    expect(stack.logLines.filter((line) => line.event === 'devhost.invocation-failed' && line.messageId === messageId)).toEqual([]);
  });
});
