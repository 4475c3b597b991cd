import { ServiceBusClient } from '@azure/service-bus';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleHashFile } from '../../../local/sample-data.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../../shared/domain/blob-layout.js';
import { BLOB_TRIGGER_POISON_QUEUE, INTAKE_EVENTS_DEAD_LETTER_CONTAINER } from '../../../shared/domain/intake-failures.js';
import { QUEUES } from '../../../shared/messages/index.js';
import { ingestHashFile } from '../../../shared/services/intake/index.js';
import { handlePipelineMessage } from '../../../shared/services/pipeline/dispatch.js';
import { sweep as sweepWith, type SweepSummary } from '../../../shared/services/sweeper.js';
import { startTestStack, type TestStack } from '../../support/stack.js';

/**
 * The sweeper's watch over the intake, on Azurite and the Service Bus test broker with no
 * functions running: a file stuck `processing`, and files the trigger gave up on (the blob
 * trigger's poison queue, an Event Grid dead letter) are reported and their intake queued to
 * run again; the queued work is then handled as the follow-up function would.
 */

const HOUR = 3_600_000;

let stack: TestStack;
let client: ServiceBusClient;
let sweeps = 0;

beforeAll(async () => {
  stack = await startTestStack();
  client = new ServiceBusClient(stack.broker.connectionString);
}, 120_000);

afterAll(async () => {
  await client?.close();
  await stack?.stop();
});

const sweep = (): Promise<SweepSummary> => sweepWith(stack.runtime.sweeperDeps(), `sweep-${++sweeps}`);
const events = (name: string): Record<string, unknown>[] => stack.logLines.filter((line) => line.event === name);

async function uploadFile(blobName: string, seed: number): Promise<void> {
  const file = sampleHashFile({ rows: 3, seed, columns: 4, groupTags: ['MPS-STD'] });
  await stack.runtime.blobs.writeText(INTAKE_CONTAINER, blobName, file.text, 'text/csv');
}

/** Takes the follow-up queue's `ingest` messages and handles each as the follow-up function would; returns how many. */
async function runQueuedIntakes(): Promise<number> {
  const receiver = client.createReceiver(QUEUES.followup);
  let handled = 0;
  try {
    for (;;) {
      const messages = await receiver.receiveMessages(20, { maxWaitTimeInMs: 1_500 });
      if (messages.length === 0) return handled;
      for (const message of messages) {
        if (message.subject === 'ingest') {
          await handlePipelineMessage(stack.runtime.pipelineDeps(), QUEUES.followup, message.body, String(message.messageId));
          handled++;
        }
        await receiver.completeMessage(message);
      }
    }
  } finally {
    await receiver.close();
  }
}

describe('a file stuck processing', () => {
  it('is reported and its intake run again with a fresh deadline, which finishes it', async () => {
    const blobName = 'contoso/stuck.csv';
    await uploadFile(blobName, 101);
    // The intake stopped half way: its rows are recorded, the batch never completed, no report.
    const first = await ingestHashFile(stack.runtime.intakeDeps(), blobName, 'corr-stuck');
    const batchId = first.batchId!;
    const done = await stack.runtime.batches.get(batchId);
    await stack.runtime.batches.save(
      { ...done!.value, status: 'processing', completedAt: undefined, receivedAt: new Date(Date.now() - 2 * HOUR).toISOString() },
      done!.etag,
    );
    await stack.runtime.blobs.container(RESULTS_CONTAINER).deleteBlob(first.reportBlob);

    const found = await sweep();
    expect(found).toMatchObject({ stuckBatches: 1, intakeRedriven: 1 });
    expect(events('batch.stuck')).toEqual([
      expect.objectContaining({ level: 'warn', batchId, blobName, supplier: 'contoso', redrives: 1, redriven: true }),
    ]);
    // The re-drive gave it a fresh deadline: the next sweep leaves it alone.
    expect(await sweep()).toMatchObject({ stuckBatches: 0, intakeRedriven: 0 });

    expect(await runQueuedIntakes()).toBe(1);
    const after = await stack.runtime.batches.get(batchId);
    expect(after?.value).toMatchObject({ status: 'complete', intakeRedrives: 1, counts: first.counts });
    expect(await stack.runtime.blobs.readText(RESULTS_CONTAINER, first.reportBlob)).toContain('accepted');
    expect(events('intake.rerun')).toContainEqual(
      expect.objectContaining({ blobName, cause: 'stuck', batchId, stuckBatchId: batchId, finished: true, status: 'complete' }),
    );
  });

  it('after its last re-drive is only reported, each run, for an operator', async () => {
    const blobName = 'contoso/hopeless.csv';
    await uploadFile(blobName, 102);
    const first = await ingestHashFile(stack.runtime.intakeDeps(), blobName, 'corr-hopeless');
    const done = await stack.runtime.batches.get(first.batchId!);
    const old = new Date(Date.now() - 2 * HOUR).toISOString();
    await stack.runtime.batches.save(
      { ...done!.value, status: 'processing', intakeRedrives: 3, redrivenAt: old, receivedAt: old },
      done!.etag,
    );
    const before = events('batch.stuck').length;

    expect(await sweep()).toMatchObject({ stuckBatches: 1, intakeRedriven: 0 });
    expect(await sweep()).toMatchObject({ stuckBatches: 1, intakeRedriven: 0 });
    expect(events('batch.stuck').slice(before)).toEqual([
      expect.objectContaining({ batchId: first.batchId, redrives: 3, redriven: false }),
      expect.objectContaining({ batchId: first.batchId, redrives: 3, redriven: false }),
    ]);
    expect(await runQueuedIntakes()).toBe(0);
    // Put back as it was, so later tests do not see it.
    const current = await stack.runtime.batches.get(first.batchId!);
    await stack.runtime.batches.save({ ...current!.value, status: 'complete' }, current!.etag);
  });
});

describe('a file its trigger gave up on', () => {
  it('on the blob trigger poison queue is reported once, taken off the queue and its intake run again', async () => {
    const blobName = 'contoso/poisoned.csv';
    await uploadFile(blobName, 103);
    const queue = new QueueClient(stack.storageConnectionString, BLOB_TRIGGER_POISON_QUEUE);
    await queue.createIfNotExists();
    const message = {
      FunctionId: 'Host.Functions.intakeHashFile',
      BlobType: 'BlockBlob',
      ContainerName: INTAKE_CONTAINER,
      BlobName: blobName,
      ETag: '"0x8DE0000000000A1"',
    };
    await queue.sendMessage(Buffer.from(JSON.stringify(message)).toString('base64'));
    // Another container's poison message is not the intake's: it stays.
    await queue.sendMessage(Buffer.from(JSON.stringify({ ...message, ContainerName: 'elsewhere' })).toString('base64'));

    const found = await sweep();
    expect(found.intakeFailures).toEqual({ new: 1, recorded: 1 });
    expect(events('intake.poisoned')).toEqual([
      expect.objectContaining({
        level: 'warn',
        source: 'blob-trigger-poison',
        blobName,
        supplier: 'contoso',
        etag: '"0x8DE0000000000A1"',
        reason: expect.stringContaining('Host.Functions.intakeHashFile'),
      }),
    ]);
    expect((await queue.getProperties()).approximateMessagesCount).toBe(1);

    expect(await runQueuedIntakes()).toBe(1);
    const report = await stack.runtime.blobs.readText(RESULTS_CONTAINER, `${blobName}.result.csv`);
    expect(report?.match(/"accepted"/g)).toHaveLength(3);
    expect(events('intake.rerun')).toContainEqual(expect.objectContaining({ blobName, cause: 'poisoned', status: 'complete' }));

    expect((await sweep()).intakeFailures).toEqual({ new: 0, recorded: 1 });
    expect(events('intake.poisoned')).toHaveLength(1);
  });

  it('dead-lettered by Event Grid is reported once, its dead-letter blob removed and its intake run again', async () => {
    const blobName = 'fabrikam/late.csv';
    await uploadFile(blobName, 104);
    const event = {
      id: 'evt-late',
      subject: `/blobServices/default/containers/${INTAKE_CONTAINER}/blobs/${blobName}`,
      eventType: 'Microsoft.Storage.BlobCreated',
      eventTime: '2026-11-30T10:00:00.000Z',
      data: { api: 'PutBlob', eTag: '0x8DE00000000000B2', blobType: 'BlockBlob' },
      dataVersion: '',
      metadataVersion: '1',
      deadLetterReason: 'TimeToLiveExceeded',
      deliveryAttempts: 12,
      lastDeliveryOutcome: 'Unavailable',
      publishTime: '2026-11-30T10:00:01.000Z',
      lastDeliveryAttemptTime: '2026-12-01T09:59:00.000Z',
    };
    const deadLetterBlob = 'ST/INTAKE-HASH-UPLOADS/2026/12/01/09/evt-late.json';
    await stack.runtime.blobs.writeText(INTAKE_EVENTS_DEAD_LETTER_CONTAINER, deadLetterBlob, JSON.stringify([event]), 'application/json');

    const before = events('intake.poisoned').length;
    expect((await sweep()).intakeFailures).toMatchObject({ new: 1 });
    expect(events('intake.poisoned').slice(before)).toEqual([
      expect.objectContaining({
        source: 'event-grid-dead-letter',
        blobName,
        supplier: 'fabrikam',
        attempts: 12,
        failedAt: '2026-12-01T09:59:00.000Z',
        reason: 'Event Grid dead-lettered the upload event: TimeToLiveExceeded; last delivery Unavailable',
      }),
    ]);
    expect(await stack.runtime.blobs.readText(INTAKE_EVENTS_DEAD_LETTER_CONTAINER, deadLetterBlob)).toBeUndefined();

    expect(await runQueuedIntakes()).toBe(1);
    const report = await stack.runtime.blobs.readText(RESULTS_CONTAINER, `${blobName}.result.csv`);
    expect(report?.match(/"accepted"/g)).toHaveLength(3);
    expect((await sweep()).intakeFailures).toMatchObject({ new: 0 });
  });
});
