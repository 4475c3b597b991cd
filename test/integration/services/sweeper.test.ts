import { InvocationContext, type Timer } from '@azure/functions';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import Long from 'long';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweeperOptions } from '../../../functions/sweeper.js';
import { QUEUES } from '../../../shared/messages/index.js';
import type { BatchRecord } from '../../../shared/domain/batch.js';
import { newDevice, transition, type DeviceRecord } from '../../../shared/domain/device.js';
import type { DeviceState, TransitionReason } from '../../../shared/domain/lifecycle.js';
import { DeadLetterCursorRepository } from '../../../shared/adapters/tables/dead-letter-cursors.js';
import { DeviceRepository } from '../../../shared/adapters/tables/device-repository.js';
import { TickLeaseRepository } from '../../../shared/adapters/tables/tick-leases.js';
import { sweeperPolicy } from '../../../shared/policies.js';
import type { DeadLetterCursorStore } from '../../../shared/services/ports.js';
import { sweep as sweepWith, type SweepSummary } from '../../../shared/services/sweeper.js';
import { startTestStack, type TestStack } from '../../support/stack.js';

/**
 * The sweeper's timer function against a real runtime on Azurite and the Service Bus test
 * broker: nothing else runs, so whatever reaches the queues was sent by the sweeper.
 */

const MINUTE = 60_000;

let stack: TestStack;
let client: ServiceBusClient;
let sweeps = 0;

async function sweep(): Promise<SweepSummary> {
  const timer: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
  const invocationId = `sweep-${++sweeps}`;
  await (sweeperOptions.handler as (timer: Timer, context: InvocationContext) => Promise<void>)(
    timer,
    new InvocationContext({ invocationId }),
  );
  const run = stack.logLines.find((line) => line.event === 'sweeper.run' && line.correlationId === invocationId);
  expect(run, `the sweeper.run event of ${invocationId}`).toBeDefined();
  return run as unknown as SweepSummary;
}

/** Every message in a queue (or its dead-letter queue), scheduled ones included, without taking any. */
async function peekAll(queue: string, deadLetter = false): Promise<ServiceBusReceivedMessage[]> {
  const receiver = client.createReceiver(queue, deadLetter ? { subQueueType: 'deadLetter' } : {});
  try {
    return await receiver.peekMessages(500, { fromSequenceNumber: Long.ZERO });
  } finally {
    await receiver.close();
  }
}

async function storeDevice(
  serialNumber: string,
  at: Date,
  fields: Partial<Pick<DeviceRecord, 'batchId'>> = {},
  path: { to: DeviceState; reason: TransitionReason; changes?: Partial<DeviceRecord> }[] = [],
): Promise<void> {
  const first = newDevice(
    { serialNumber, supplierId: 'contoso', batchId: 'b-sweeper', line: 2, groupTag: 'MPS-STD', ...fields },
    'received',
    'accepted-from-file',
    `corr-${serialNumber}`,
    at,
  );
  let saved = await stack.runtime.devices.create(first.record, first.event);
  for (const step of path) {
    const next = transition(saved.value, { ...step, correlationId: `corr-${serialNumber}`, now: at });
    saved = await stack.runtime.devices.save(next.record, saved, next.event);
  }
}

/** Dead-letters one message the way a consumer does, through the SDK. */
async function deadLetter(queue: string, messageId: string, body: unknown): Promise<void> {
  const sender = client.createSender(queue);
  await sender.sendMessages({
    messageId,
    subject: 'import-chunk',
    correlationId: `corr-${messageId}`,
    contentType: 'application/json',
    body,
  });
  await sender.close();
  const receiver = client.createReceiver(queue);
  try {
    for (;;) {
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
      if (!message) throw new Error(`${messageId} never arrived`);
      if (message.messageId === messageId) {
        await receiver.deadLetterMessage(message, {
          deadLetterReason: 'TestReason',
          deadLetterErrorDescription: 'dead-lettered by the sweeper test',
        });
        return;
      }
      await receiver.abandonMessage(message);
    }
  } finally {
    await receiver.close();
  }
}

const events = (name: string): Record<string, unknown>[] => stack.logLines.filter((line) => line.event === name);

beforeAll(async () => {
  stack = await startTestStack();
  client = new ServiceBusClient(stack.broker.connectionString);
}, 120_000);

afterAll(async () => {
  await client?.close();
  await stack?.stop();
});

describe('sweeper', () => {
  it('is a five-minute timer that does not run at start-up', () => {
    expect(sweeperOptions).toMatchObject({ schedule: '0 */5 * * * *', runOnStartup: false });
  });

  it('re-queues a received device that no import message picked up, once', async () => {
    const old = new Date(Date.now() - 20 * MINUTE);
    const processing: BatchRecord = {
      batchId: 'b-still-recording',
      supplierId: 'contoso',
      fileName: 'big.csv',
      blobName: 'contoso/big.csv',
      contentSha256: 'x',
      sizeBytes: 1,
      status: 'processing',
      receivedAt: new Date().toISOString(),
      completedAt: undefined,
      format: undefined,
      encoding: undefined,
      fileRejection: undefined,
      counts: {},
      reportBlob: undefined,
      correlationId: 'corr-big',
    };
    await stack.runtime.batches.create(processing);
    await storeDevice('SWP-FORGOTTEN', old);
    await storeDevice('SWP-JUST-ARRIVED', new Date());
    await storeDevice('SWP-FILE-STILL-RECORDING', old, { batchId: processing.batchId });

    const first = await sweep();
    expect(first).toMatchObject({ requeued: 1, requeueDeferred: 1, waiting: { received: 3 } });
    const queued = await peekAll(QUEUES.import);
    expect(queued).toHaveLength(1);
    expect(queued[0]?.subject).toBe('import-chunk');
    expect(queued[0]?.messageId).toMatch(/^sweep:[0-9a-f]{40}$/);
    expect(queued[0]?.body).toMatchObject({
      kind: 'import-chunk',
      correlationId: 'sweep-1',
      payload: { source: { kind: 'sweeper' }, serialNumbers: ['SWP-FORGOTTEN'] },
    });
    expect(events('sweeper.requeued')).toEqual([expect.objectContaining({ count: 1, serials: ['SWP-FORGOTTEN'], level: 'info' })]);

    // Still received (nothing consumes the queue here): the same work again is dropped as a duplicate.
    await sweep();
    expect(await peekAll(QUEUES.import)).toHaveLength(1);
  });

  it('reports each dead-lettered message exactly once, however many sweeps overlap, and leaves it there', async () => {
    await deadLetter(QUEUES.reprovision, 'dl-first', {
      kind: 'import-chunk',
      correlationId: 'corr-dl-first',
      payload: { marker: 'BODY-MARKER-1' },
    });

    const [a, b] = await Promise.all([sweep(), sweep()]);
    expect(a.newDeadLetters + b.newDeadLetters).toBe(1);
    const third = await sweep();
    expect(third.deadLetters[QUEUES.reprovision]).toEqual({ present: 1, atLeast: false, new: 0 });
    expect(third.deadLetters[QUEUES.import]).toEqual({ present: 0, atLeast: false, new: 0 });

    const found = events('deadletter.found');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      level: 'warn',
      queue: QUEUES.reprovision,
      messageId: 'dl-first',
      kind: 'import-chunk',
      correlationId: 'corr-dl-first',
      deadLetterReason: 'TestReason',
      deadLetterErrorDescription: 'dead-lettered by the sweeper test',
      deliveryCount: expect.any(Number),
      sequenceNumber: expect.stringMatching(/^\d+$/),
    });
    expect(JSON.stringify(stack.logLines)).not.toContain('BODY-MARKER');
    const deadLettered = await peekAll(QUEUES.reprovision, true);
    expect(deadLettered).toHaveLength(1);
    // The message's own enqueued time, as Service Bus stamped it.
    expect(found[0]?.enqueuedTime).toBe(deadLettered[0]!.enqueuedTimeUtc!.toISOString());

    // A later dead letter is reported on its own.
    await deadLetter(QUEUES.reprovision, 'dl-second', { kind: 'import-chunk', correlationId: 'corr-dl-second', payload: {} });
    const fourth = await sweep();
    expect(fourth.deadLetters[QUEUES.reprovision]).toEqual({ present: 2, atLeast: false, new: 1 });
    expect(events('deadletter.found').map((line) => line.messageId)).toEqual(['dl-first', 'dl-second']);
  });

  it('reports a dead letter once even when two sweeps read the cursor at the same moment', async () => {
    const cursors = DeadLetterCursorRepository.connect(stack.storageConnectionString, () => new Date(), 'sweeperoverlap');
    await cursors.ensure();
    // Both sweeps read the cursor before either moves it: the worst interleaving, every time.
    let release: () => void = () => undefined;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    const together: DeadLetterCursorStore = {
      async get(queue) {
        const cursor = await cursors.get(queue);
        if (++reads === 2) release();
        if (reads <= 2) await bothRead;
        return cursor;
      },
      advance: (queue, sequenceNumber, etag) => cursors.advance(queue, sequenceNumber, etag),
    };
    const deps = {
      ...stack.runtime.sweeperDeps(),
      cursors: together,
      policy: sweeperPolicy(stack.runtime.config),
      queues: [QUEUES.reprovision],
    };
    const before = events('deadletter.found').length;
    const [a, b] = await Promise.all([sweepWith(deps, 'overlap-a'), sweepWith(deps, 'overlap-b')]);
    expect([a.newDeadLetters, b.newDeadLetters].sort()).toEqual([0, 2]);
    expect(
      events('deadletter.found')
        .slice(before)
        .map((line) => line.messageId),
    ).toEqual(['dl-first', 'dl-second']);
  });

  it('revives the poll a waiting device needs when no run of it is scheduled, and only then', async () => {
    const leases = stack.runtime.pipelineDeps().ticks.leases;
    const tickMessages = async (): Promise<string[]> =>
      (await peekAll(QUEUES.followup)).map((message) => String(message.messageId)).filter((id) => id.startsWith('tick:imports:'));
    await storeDevice('SWP-IMPORTING', new Date(), {}, [
      { to: 'importing', reason: 'import-submitted', changes: { importId: 'ztp-x', waitingFor: 'import' } },
    ]);
    expect((await leases.get('imports')).scheduledFor).toBeUndefined();

    const reviveDelayMs = sweeperPolicy(stack.config).reviveDelayMs;
    // The sweep reads its clock between these readings: the poll's time is bracketed however slow the machine.
    const before = Date.now();
    const revived = await sweep();
    const after = Date.now();
    expect(revived.ticks).toEqual({ imports: 'revived', autopilot: 'idle', reprovision: 'idle' });
    expect(revived.waiting).toMatchObject({ importing: 1 });
    const lease = await leases.get('imports');
    expect(reviveDelayMs).toBe(stack.config.pipeline.firstPollMs);
    expect(Date.parse(String(lease.scheduledFor))).toBeGreaterThanOrEqual(before + reviveDelayMs);
    expect(Date.parse(String(lease.scheduledFor))).toBeLessThanOrEqual(after + reviveDelayMs);
    expect(await tickMessages()).toEqual([`tick:imports:${Date.parse(String(lease.scheduledFor))}`]);
    expect(events('sweeper.tick-revived')).toEqual([expect.objectContaining({ tick: 'imports', lastScheduledFor: null })]);

    // The run is pending now: nothing more.
    expect((await sweep()).ticks.imports).toBe('pending');
    expect(await tickMessages()).toHaveLength(1);

    // A poll backed off far into the future is not pulled forward.
    const later = new Date(Date.now() + 3 * 60 * MINUTE).toISOString();
    await leases.set('imports', later, (await leases.get('imports')).etag);
    expect((await sweep()).ticks.imports).toBe('pending');
    expect((await leases.get('imports')).scheduledFor).toBe(later);
    expect(await tickMessages()).toHaveLength(1);

    // A run long overdue was lost (say, dead-lettered): a new one is scheduled.
    const lost = new Date(Date.now() - 30 * MINUTE).toISOString();
    await leases.set('imports', lost, (await leases.get('imports')).etag);
    const beforeRevival = Date.now();
    expect((await sweep()).ticks.imports).toBe('revived');
    const afterRevival = Date.now();
    const revivedFor = Date.parse(String((await leases.get('imports')).scheduledFor));
    expect(revivedFor).toBeGreaterThanOrEqual(beforeRevival + reviveDelayMs);
    expect(revivedFor).toBeLessThanOrEqual(afterRevival + reviveDelayMs);
    expect(await tickMessages()).toHaveLength(2);
    expect(events('sweeper.tick-revived').at(-1)).toMatchObject({ tick: 'imports', lastScheduledFor: lost });
  });

  it('counts stalled devices and waiting devices past their deadline', async () => {
    const past = new Date(Date.now() - MINUTE).toISOString();
    await storeDevice('SWP-OVERDUE', new Date(), {}, [
      { to: 'importing', reason: 'import-submitted', changes: { importId: 'ztp-y', autopilotId: undefined } },
      { to: 'registered', reason: 'import-complete', changes: { autopilotId: 'ap-1', waitingFor: 'profile-assignment', deadlineAt: past } },
    ]);
    await storeDevice('SWP-STALLED', new Date(), {}, [
      { to: 'importing', reason: 'import-submitted' },
      { to: 'stalled', reason: 'deadline-passed', changes: { waitingFor: 'import', deadlineAt: past } },
    ]);
    const summary = await sweep();
    expect(summary).toMatchObject({ stalled: 1, overdue: 1, waiting: { importing: 1, registered: 1, stalled: 1 } });
    expect(summary.ticks).toEqual({ imports: 'pending', autopilot: 'revived', reprovision: 'idle' });
    expect(summary.failedSteps).toEqual([]);
  });
  it('counts the work set aside after its last transient retry apart from the unreadable messages', async () => {
    const poison = stack.runtime.pipelineDeps().poison;
    const parked = { kind: 'import-chunk', correlationId: 'c-set-aside', description: 'd', parkedAt: new Date().toISOString(), body: '{}' };
    await poison.park({ ...parked, queue: 'ztp-import', messageId: 'swp-given-up#8', reason: 'retries-exhausted' });
    await poison.park({ ...parked, queue: 'ztp-followup', messageId: 'swp-unreadable', reason: 'unknown-kind' });
    const summary = await sweep();
    expect(summary.givenUp).toEqual({ 'ztp-import': 1 });
    expect(summary.poisoned).toEqual({ 'ztp-followup': 1 });
  });

  it('counts every stalled device, and revives no poll for those stalled on their import or a request: they wait for a re-drive', async () => {
    const suffix = String(Date.now());
    const devices = DeviceRepository.connect(stack.storageConnectionString, `sweepstalled${suffix}`);
    const leases = TickLeaseRepository.connect(stack.storageConnectionString, `sweepstalledticks${suffix}`);
    await Promise.all([devices.ensure(), leases.ensure()]);
    const past = new Date(Date.now() - MINUTE).toISOString();
    const stalled = async (serialNumber: string, changes: Partial<DeviceRecord>, via: DeviceState[]): Promise<void> => {
      const first = newDevice(
        { serialNumber, supplierId: 'contoso', batchId: 'b-stalled', line: 2, groupTag: 'MPS-STD' },
        'received',
        'accepted-from-file',
        'corr',
        new Date(),
      );
      let saved = await devices.create(first.record, first.event);
      for (const to of [...via, 'stalled' as const]) {
        const next = transition(saved.value, { to, reason: 'deadline-passed', correlationId: 'corr', now: new Date(), changes });
        saved = await devices.save(next.record, saved, next.event);
      }
    };
    await stalled('SWP-STALLED-IMPORT', { importId: 'ztp-z', waitingFor: 'import', deadlineAt: past }, ['importing']);
    await stalled('SWP-STALLED-DESK', { autopilotId: 'ap-desk', waitingFor: 'reprovision', deadlineAt: past }, ['importing', 'registered']);
    const scheduled: string[] = [];
    const summary = await sweepWith(
      {
        ...stack.runtime.sweeperDeps(),
        devices,
        ticks: {
          leases,
          now: () => new Date(),
          queue: { schedule: async (_queue, messages) => void scheduled.push(...messages.map((m) => m.messageId)) },
        },
        queues: [],
      },
      'sweep-stalled',
    );
    expect(summary).toMatchObject({ stalled: 2, overdue: 0, waiting: { stalled: 2 } });
    expect(summary.ticks).toEqual({ imports: 'idle', autopilot: 'idle', reprovision: 'idle' });
    expect(scheduled).toEqual([]);
  });

  // Last: its devices stay reprovisioning (nothing consumes the queue here).
  it('sends again the message of a re-provisioning request no worker started, once', async () => {
    const old = new Date(Date.now() - 20 * MINUTE);
    const requestId = '0b6f2d0e-7c1a-4f7e-9d55-2f1f0f0c5a01';
    const request = {
      requestId,
      action: 'autopilot-reset' as const,
      ticket: 'INC7',
      requestedBy: 'Someone At The Desk',
      requestedAt: old.toISOString(),
      fromState: 'enrolled' as const,
      stage: 'accepted' as const,
    };
    const toEnrolled = (['importing', 'registered', 'profile-assigned', 'enrolled'] as const).map((to) => ({
      to,
      reason: 'enrolled' as const,
    }));
    await storeDevice('SWP-DESK-LOST', old, {}, [
      ...toEnrolled,
      { to: 'reprovisioning', reason: 'reprovision-requested', changes: { reprovision: request, waitingFor: 'reprovision' } },
    ]);
    // Sent its action already: the poll follows it, the sweeper leaves its message alone.
    await storeDevice('SWP-DESK-SENT', old, {}, [
      ...toEnrolled,
      {
        to: 'reprovisioning',
        reason: 'reprovision-requested',
        changes: {
          reprovision: { ...request, requestId: '0b6f2d0e-7c1a-4f7e-9d55-2f1f0f0c5a02', stage: 'sent' },
          waitingFor: 'reprovision',
        },
      },
    ]);

    const first = await sweep();
    expect(first).toMatchObject({ reprovisionResent: 1, waiting: { reprovisioning: 2 } });
    expect(first.ticks.reprovision).toBe('revived');
    const queued = await peekAll(QUEUES.reprovision);
    expect(queued.map((m) => m.messageId)).toEqual([`reprovision:${requestId}`]);
    expect(queued[0]?.body).toMatchObject({ kind: 'reprovision', payload: { serialNumber: 'SWP-DESK-LOST', requestId } });
    expect(events('sweeper.reprovision-resent')).toEqual([expect.objectContaining({ serial: 'SWP-DESK-LOST', requestId })]);
    expect(JSON.stringify(stack.logLines)).not.toContain('Someone At The Desk');

    await sweep();
    expect(await peekAll(QUEUES.reprovision)).toHaveLength(1);
  });
});
