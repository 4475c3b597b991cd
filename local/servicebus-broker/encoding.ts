// AMQP encoding details the @azure/service-bus SDK relies on: lock-token byte order, batch
// envelopes, Service Bus message annotations and outcome frames.
import { randomUUID } from 'node:crypto';
import rhea from 'rhea';
import type { AmqpError, Delivery } from 'rhea';

/** The sections of a decoded AMQP message that the broker reads or rewrites. */
export interface AmqpMessage {
  message_id?: unknown;
  ttl?: number;
  delivery_count?: number;
  application_properties?: Record<string, unknown>;
  message_annotations?: Record<string, unknown>;
  [section: string]: unknown;
}

/** Message format of an SDK batch: an envelope whose data sections are each an encoded message. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;

/** Service Bus Standard tier limit; the SDK sizes its batches from the value on the link. */
export const MAX_MESSAGE_SIZE_BYTES = 256 * 1024;

const LONG_ARRAY = 0x81;

export const Annotation = {
  sequenceNumber: 'x-opt-sequence-number',
  enqueuedTime: 'x-opt-enqueued-time',
  lockedUntil: 'x-opt-locked-until',
  scheduledEnqueueTime: 'x-opt-scheduled-enqueue-time',
  messageState: 'x-opt-message-state',
  deadLetterSource: 'x-opt-deadletter-source',
} as const;

export const Condition = {
  lockLost: 'com.microsoft:message-lock-lost',
  messageNotFound: 'com.microsoft:message-not-found',
  deadLetter: 'com.microsoft:dead-letter',
  notFound: 'amqp:not-found',
  notImplemented: 'amqp:not-implemented',
  internalError: 'amqp:internal-error',
} as const;

export function decode(buffer: Buffer): AmqpMessage {
  return rhea.message.decode(buffer) as AmqpMessage;
}

export function encode(message: AmqpMessage): Buffer {
  return rhea.message.encode(message);
}

/** Splits what arrived on a link into the messages it carries (one, or many for a batch). */
export function messagesFromTransfer(payload: unknown, format: number | undefined): AmqpMessage[] {
  if (format !== BATCH_MESSAGE_FORMAT) return [payload as AmqpMessage];
  const envelope = decode(payload as Buffer);
  const body = envelope['body'] as { content: Buffer | Buffer[]; multiple?: boolean } | undefined;
  if (!body) return [];
  const sections = body.multiple ? (body.content as Buffer[]) : [body.content as Buffer];
  return sections.map(decode);
}

/** Service Bus assigns a message id when the sender did not. */
export function withMessageId(message: AmqpMessage): AmqpMessage {
  if (message.message_id !== undefined && message.message_id !== null) return message;
  return { ...message, message_id: randomUUID().replace(/-/g, '') };
}

export function messageIdKey(id: unknown): string | undefined {
  if (id === undefined || id === null) return undefined;
  if (Buffer.isBuffer(id)) return `binary:${id.toString('hex')}`;
  return `${typeof id}:${String(id)}`;
}

export function scheduledTimeOf(message: AmqpMessage): number | undefined {
  const value = message.message_annotations?.[Annotation.scheduledEnqueueTime];
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return value;
  return undefined;
}

// .NET writes the first three GUID fields little-endian; the SDK swaps them back when it
// turns a delivery tag into a lock token string.
function swapGuidByteOrder(bytes: Buffer): Buffer {
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Buffer.from(order.map((i) => bytes[i] ?? 0));
}

export function lockTokenToDeliveryTag(token: string): Buffer {
  return swapGuidByteOrder(rhea.string_to_uuid(token));
}

export function lockTokenFromDeliveryTag(tag: Buffer | string): string {
  return rhea.uuid_to_string(swapGuidByteOrder(typeof tag === 'string' ? Buffer.from(tag) : tag));
}

/** Lock tokens in management requests are plain (RFC byte order) AMQP uuids. */
export function lockTokenFromUuid(value: unknown): string {
  return Buffer.isBuffer(value) ? rhea.uuid_to_string(value) : String(value);
}

export function lockTokenAsUuid(token: string): unknown {
  return rhea.types.wrap_uuid(rhea.string_to_uuid(token));
}

export function asSequenceNumber(value: unknown): number {
  if (Buffer.isBuffer(value)) return Number(value.readBigInt64BE(0));
  return Number(value);
}

export function sequenceNumberArray(values: number[]): unknown {
  return rhea.types.wrap_array(values, LONG_ARRAY, undefined);
}

export type MessageState = 'active' | 'deferred' | 'scheduled';
const MESSAGE_STATE_CODE: Record<MessageState, number> = { active: 0, deferred: 1, scheduled: 2 };

export interface BrokerProperties {
  sequenceNumber: number;
  enqueuedAt: number;
  deliveryCount: number;
  state: MessageState;
  lockedUntil?: number;
}

/** The message as a receiver sees it: the sent message plus what the broker stamps on it. */
export function stampBrokerProperties(message: AmqpMessage, props: BrokerProperties): AmqpMessage {
  const annotations: Record<string, unknown> = {
    ...message.message_annotations,
    [Annotation.sequenceNumber]: rhea.types.wrap_long(props.sequenceNumber),
    [Annotation.enqueuedTime]: new Date(props.enqueuedAt),
    [Annotation.messageState]: rhea.types.wrap_int(MESSAGE_STATE_CODE[props.state]),
  };
  if (props.lockedUntil !== undefined) annotations[Annotation.lockedUntil] = new Date(props.lockedUntil);
  return { ...message, delivery_count: props.deliveryCount, message_annotations: annotations };
}

interface OutcomeFactory {
  rejected(fields: { error: AmqpError }): { described(): unknown };
  accepted(): { described(): unknown };
}
const outcomes = rhea.message as unknown as OutcomeFactory;

/** Settles a delivery the client left for the broker to settle (rcv-settle-mode second). */
export function settleDelivery(delivery: Delivery, error?: AmqpError): void {
  const outcome = error ? outcomes.rejected({ error }) : outcomes.accepted();
  delivery.update(true, outcome.described());
}
