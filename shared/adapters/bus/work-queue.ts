import { DefaultAzureCredential } from '@azure/identity';
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusReceivedMessage, type ServiceBusSender } from '@azure/service-bus';
import Long from 'long';
import type { OutgoingMessage } from '../../messages/index.js';
import type { DeadLetteredMessage, MessageQueue, PeekDeadLettersOptions } from '../../services/ports.js';

/**
 * The one place that puts work on Service Bus. Every message is an envelope built by
 * `shared/messages` with a deterministic `messageId`, so sending the same logical work twice
 * (a redelivered handler, a re-run intake) is dropped by the queue's duplicate detection
 * instead of being done twice.
 */

const PEEK_PAGE = 250;

export type ServiceBusSettings = { readonly connectionString: string } | { readonly fullyQualifiedNamespace: string };

export function createServiceBusClient(settings: ServiceBusSettings): ServiceBusClient {
  return 'connectionString' in settings
    ? new ServiceBusClient(settings.connectionString)
    : new ServiceBusClient(settings.fullyQualifiedNamespace, new DefaultAzureCredential());
}

function toServiceBusMessage(message: OutgoingMessage): ServiceBusMessage {
  return {
    messageId: message.messageId,
    correlationId: message.correlationId,
    subject: message.kind,
    contentType: 'application/json',
    body: {
      kind: message.kind,
      correlationId: message.correlationId,
      payload: message.payload,
      ...(message.attempt ? { attempt: message.attempt } : {}),
      ...(message.workId ? { workId: message.workId } : {}),
    },
  };
}

function optionalText(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

function deadLetterInfo(message: ServiceBusReceivedMessage): DeadLetteredMessage {
  return {
    sequenceNumber: message.sequenceNumber?.toString() ?? '0',
    messageId: optionalText(message.messageId),
    kind: optionalText(message.subject),
    correlationId: optionalText(message.correlationId),
    deadLetterReason: message.deadLetterReason,
    deadLetterErrorDescription: message.deadLetterErrorDescription,
    enqueuedTime: message.enqueuedTimeUtc?.toISOString(),
    deliveryCount: message.deliveryCount,
  };
}

export class WorkQueue implements MessageQueue {
  private readonly senders = new Map<string, ServiceBusSender>();

  constructor(private readonly client: ServiceBusClient) {}

  private sender(queue: string): ServiceBusSender {
    let sender = this.senders.get(queue);
    if (!sender) {
      sender = this.client.createSender(queue);
      this.senders.set(queue, sender);
    }
    return sender;
  }

  /** Sends now, in as few batches as the size limit allows. */
  async send(queue: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const sender = this.sender(queue);
    let batch = await sender.createMessageBatch();
    for (const message of messages) {
      const sbMessage = toServiceBusMessage(message);
      if (batch.tryAddMessage(sbMessage)) continue;
      if (batch.count === 0) throw new Error(`Message ${message.messageId} is larger than a Service Bus batch`);
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      if (!batch.tryAddMessage(sbMessage)) throw new Error(`Message ${message.messageId} is larger than a Service Bus batch`);
    }
    if (batch.count > 0) await sender.sendMessages(batch);
  }

  /**
   * Schedules for later. Stale scheduled work is never cancelled: handlers recognise it
   * (device generation, state) and drop it, which also covers work already in flight.
   */
  async schedule(queue: string, messages: readonly OutgoingMessage[], at: Date): Promise<void> {
    if (messages.length === 0) return;
    await this.sender(queue).scheduleMessages(messages.map(toServiceBusMessage), at);
  }

  /**
   * Reads a queue's dead-letter sub-queue in sequence order without locking or removing
   * anything. Every page names its starting sequence number: the SDK's implicit "continue
   * where the last peek stopped" is shared by every receiver of the same entity.
   */
  async peekDeadLetters(queue: string, options: PeekDeadLettersOptions): Promise<DeadLetteredMessage[]> {
    const receiver = this.client.createReceiver(queue, { subQueueType: 'deadLetter' });
    const found: DeadLetteredMessage[] = [];
    try {
      let from = options.afterSequenceNumber === undefined ? Long.ZERO : Long.fromString(options.afterSequenceNumber).add(1);
      while (found.length < options.maxMessages) {
        const page = await receiver.peekMessages(Math.min(PEEK_PAGE, options.maxMessages - found.length), {
          fromSequenceNumber: from,
          ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
        });
        const last = page.at(-1)?.sequenceNumber;
        if (last === undefined) break;
        found.push(...page.map(deadLetterInfo));
        from = last.add(1);
      }
    } finally {
      await receiver.close();
    }
    return found;
  }

  async close(): Promise<void> {
    await Promise.all([...this.senders.values()].map((sender) => sender.close()));
    this.senders.clear();
  }
}
