import { DefaultAzureCredential } from '@azure/identity';
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusReceivedMessage, type ServiceBusSender } from '@azure/service-bus';
import Long from 'long';

/**
 * The one place that puts work on Service Bus. Every message is a typed envelope with a
 * `kind` and a correlation id, and a `messageId` chosen by the caller so that sending the
 * same logical work twice (a redelivered handler, a re-run intake) is dropped by the
 * queue's duplicate detection instead of being done twice.
 */

export interface Envelope<K extends string = string, P = unknown> {
  readonly kind: K;
  readonly correlationId: string;
  readonly payload: P;
  /** How many times this work was rescheduled after throttling or a transient fault. */
  readonly attempt?: number;
}

export interface OutgoingMessage<K extends string = string, P = unknown> extends Envelope<K, P> {
  /** Deterministic id for duplicate detection: same logical work, same id. */
  readonly messageId: string;
}

/** What a dead-lettered message says about itself; never its body. */
export interface DeadLetteredMessage {
  /** 64-bit, as a decimal string: a number would lose precision. */
  readonly sequenceNumber: string;
  readonly messageId: string | undefined;
  /** The envelope kind (the message's subject). */
  readonly kind: string | undefined;
  readonly correlationId: string | undefined;
  readonly deadLetterReason: string | undefined;
  readonly deadLetterErrorDescription: string | undefined;
  /** ISO 8601. */
  readonly enqueuedTime: string | undefined;
  readonly deliveryCount: number | undefined;
}

export interface PeekDeadLettersOptions {
  /** Only messages with a higher sequence number; from the first one when absent. */
  readonly afterSequenceNumber?: string;
  readonly maxMessages: number;
  readonly abortSignal?: AbortSignal;
}

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
    },
  };
}

/** Reads an envelope back from a received body, refusing anything that is not one. */
export function parseEnvelope(body: unknown): Envelope {
  const value = typeof body === 'string' ? safeJson(body) : body;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Envelope).kind === 'string' &&
    typeof (value as Envelope).correlationId === 'string' &&
    'payload' in value
  ) {
    return value as Envelope;
  }
  throw new Error('Message body is not a work envelope {kind, correlationId, payload}');
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

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export class WorkQueue {
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
