import { RestError as BlobRestError, type BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { RestError as QueueRestError, type QueueClient } from '@azure/storage-queue';
import { StorageAccess } from '../storage-access.js';
import {
  BLOB_TRIGGER_POISON_QUEUE,
  INTAKE_EVENTS_DEAD_LETTER_CONTAINER,
  readDeadLetteredEvents,
  readPoisonBlobMessage,
} from '../../domain/intake-failures.js';
import type { IntakeFailure, IntakeFailureFeed } from '../../services/ports.js';

/**
 * The intake failures Azure records, from both places it records them: the blob trigger's
 * poison queue and the Event Grid subscription's dead-letter container (formats in
 * domain/intake-failures.ts). A taken poison message stays invisible for a while and comes back
 * unless removed, so a sweep that stops half way loses nothing. Messages about other containers
 * are left where they are.
 */

/** How long a taken poison message stays hidden from the next sweep (s): longer than a sweep takes. */
const POISON_VISIBILITY_SECONDS = 300;
/** The most messages one receive returns (Queue Storage's own limit). */
const MAX_RECEIVE = 32;

interface PoisonReceipt {
  readonly kind: 'poison';
  readonly messageId: string;
  readonly popReceipt: string;
}

interface DeadLetterReceipt {
  readonly kind: 'dead-letter';
  readonly blob: string;
}

const notFound = (error: unknown): boolean =>
  (error instanceof QueueRestError || error instanceof BlobRestError) && error.statusCode === 404;

export class IntakeFailureQueueFeed implements IntakeFailureFeed {
  private readonly deadLetters: ContainerClient;

  constructor(
    private readonly poison: QueueClient,
    blobs: BlobServiceClient,
  ) {
    this.deadLetters = blobs.getContainerClient(INTAKE_EVENTS_DEAD_LETTER_CONTAINER);
  }

  static connect(storage: StorageAccess | string): IntakeFailureQueueFeed {
    const access = StorageAccess.of(storage);
    return new IntakeFailureQueueFeed(access.queue(BLOB_TRIGGER_POISON_QUEUE), access.blobService());
  }

  async take(max: number): Promise<IntakeFailure[]> {
    const poisoned = await this.takePoisoned(max);
    return [...poisoned, ...(await this.takeDeadLettered(max - poisoned.length))];
  }

  async remove(receipt: string): Promise<void> {
    const parsed = JSON.parse(receipt) as PoisonReceipt | DeadLetterReceipt;
    try {
      if (parsed.kind === 'poison') await this.poison.deleteMessage(parsed.messageId, parsed.popReceipt);
      else await this.deadLetters.deleteBlob(parsed.blob);
    } catch (error) {
      if (!notFound(error)) throw error;
    }
  }

  private async takePoisoned(max: number): Promise<IntakeFailure[]> {
    if (max <= 0) return [];
    let received;
    try {
      received = await this.poison.receiveMessages({
        numberOfMessages: Math.min(max, MAX_RECEIVE),
        visibilityTimeout: POISON_VISIBILITY_SECONDS,
      });
    } catch (error) {
      // No blob has failed for good yet: the host creates the queue with its first message.
      if (notFound(error)) return [];
      throw error;
    }
    const failures: IntakeFailure[] = [];
    for (const message of received.receivedMessageItems) {
      const blob = readPoisonBlobMessage(message.messageText, message.insertedOn.toISOString());
      if (!blob) continue;
      const receipt: PoisonReceipt = { kind: 'poison', messageId: message.messageId, popReceipt: message.popReceipt };
      failures.push({ source: 'blob-trigger-poison', ...blob, receipt: JSON.stringify(receipt) });
    }
    return failures;
  }

  private async takeDeadLettered(max: number): Promise<IntakeFailure[]> {
    if (max <= 0) return [];
    const failures: IntakeFailure[] = [];
    try {
      for await (const item of this.deadLetters.listBlobsFlat()) {
        if (failures.length >= max) break;
        const text = (await this.deadLetters.getBlobClient(item.name).downloadToBuffer()).toString('utf8');
        const receipt: DeadLetterReceipt = { kind: 'dead-letter', blob: item.name };
        for (const blob of readDeadLetteredEvents(text)) {
          failures.push({ source: 'event-grid-dead-letter', ...blob, receipt: JSON.stringify(receipt) });
        }
      }
    } catch (error) {
      // Without the dead-letter container (the local stack, or nothing dead-lettered yet) there is nothing to read.
      if (notFound(error)) return failures;
      throw error;
    }
    return failures;
  }
}
