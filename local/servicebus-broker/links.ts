// AMQP connection and link handling: routes each attached link to the $cbs node, an entity's
// $management node, or an entity, and turns transfers and dispositions into queue operations.
import type { AmqpError, Connection, Container, Delivery, EventContext, Message, Receiver, Sender, link as Link } from 'rhea';
import {
  Condition,
  encode,
  lockTokenFromDeliveryTag,
  lockTokenToDeliveryTag,
  MAX_MESSAGE_SIZE_BYTES,
  messagesFromTransfer,
  settleDelivery,
  type AmqpMessage,
} from './encoding.js';
import { handleManagementRequest } from './management.js';
import { LockLostError, type Consumer, type Delivered, type MessageEntity, type ReceiveMode } from './queue.js';

export type Route =
  | { kind: 'cbs' }
  | { kind: 'management'; entity: MessageEntity }
  | { kind: 'entity'; entity: MessageEntity; isDeadLetterQueue: boolean }
  | { kind: 'unknown' };

/** rhea keeps these on the link object but leaves them out of its typings. */
interface LinkInternals {
  credit: number;
  local: { attach: { max_message_size?: number; snd_settle_mode?: number; rcv_settle_mode?: number } };
  connection: { _register(): void };
}
const internals = (link: Link): LinkInternals => link as unknown as LinkInternals;

class LinkConsumer implements Consumer {
  drainRequested = false;

  constructor(
    readonly sender: Sender,
    readonly entity: MessageEntity,
    readonly mode: ReceiveMode,
  ) {}

  credit(): number {
    return this.sender.is_open() && this.sender.sendable() ? internals(this.sender).credit : 0;
  }

  deliver(delivered: Delivered): void {
    const tag = delivered.lockToken ? lockTokenToDeliveryTag(delivered.lockToken) : undefined;
    this.sender.send(encode(delivered.message), tag, 0);
  }

  idle(): void {
    // A draining receiver (the SDK's receiveMessages) waits for the broker to give back unused credit.
    if (!this.drainRequested) return;
    this.drainRequested = false;
    this.sender.set_drained(true);
    // set_drained only marks the flow as due; outside rhea's own event handlers nothing writes it.
    internals(this.sender).connection._register();
  }
}

/** Wires the broker's behaviour onto a rhea container; one instance serves every connection. */
export class LinkRouter {
  readonly connections = new Set<Connection>();
  private readonly consumers = new Map<Sender, LinkConsumer>();
  private readonly inbound = new WeakMap<Receiver, Route>();
  /** Reply links of request/response nodes, by the reply-to address the client chose. */
  private readonly replyLinks = new WeakMap<Connection, Map<string, Sender>>();

  constructor(
    container: Container,
    private readonly route: (address: string) => Route,
    private readonly describeEntity: (address: string) => string,
    /** Told of every management request (entity name, operation), before it is answered. */
    private readonly onManagementRequest: (entity: string, operation: string) => void = () => undefined,
  ) {
    container.on('connection_open', (context: EventContext) => this.connections.add(context.connection));
    container.on('connection_close', (context: EventContext) => this.forgetConnection(context.connection));
    container.on('disconnected', (context: EventContext) => this.forgetConnection(context.connection));
    container.on('receiver_open', (context: EventContext) => this.onClientSenderAttached(need(context.receiver)));
    container.on('sender_open', (context: EventContext) => this.onClientReceiverAttached(need(context.sender)));
    container.on('message', (context: EventContext) => this.onTransfer(context));
    container.on('sendable', (context: EventContext) => this.consumerOf(context)?.entity.requestDispatch());
    container.on('sender_draining', (context: EventContext) => this.onDrain(context));
    container.on('sender_close', (context: EventContext) => this.forgetSender(need(context.sender)));
    container.on('accepted', (context: EventContext) => this.settle(context, (entity, token) => entity.complete(token)));
    container.on('modified', (context: EventContext) =>
      this.settle(context, (entity, token, delivery) => onModified(entity, token, delivery)),
    );
    container.on('rejected', (context: EventContext) =>
      this.settle(context, (entity, token, delivery) => onRejected(entity, token, delivery)),
    );
    // Link and connection errors caused by clients must never take the broker down.
    container.on('error', () => undefined);
    container.on('connection_error', () => undefined);
  }

  private onClientSenderAttached(receiver: Receiver): void {
    const address = receiver.target?.address ?? '';
    const route = this.route(address);
    echoTerminus(receiver);
    if (route.kind === 'unknown') return this.refuse(receiver, address);
    if (route.kind === 'entity' && route.isDeadLetterQueue) {
      receiver.close({ condition: 'amqp:not-allowed', description: 'Messages cannot be sent to a dead-letter queue.' });
      return;
    }
    // The SDK sizes message batches from this value and refuses to batch without it.
    internals(receiver).local.attach.max_message_size = MAX_MESSAGE_SIZE_BYTES;
    this.inbound.set(receiver, route);
  }

  private onClientReceiverAttached(sender: Sender): void {
    const address = sender.source?.address ?? '';
    const route = this.route(address);
    echoTerminus(sender);
    if (route.kind === 'unknown') return this.refuse(sender, address);
    if (route.kind !== 'entity') {
      // The $management client names its reply address as the target; the $cbs client only as the link name.
      this.repliesOf(sender.connection).set(replyAddressOf(sender), sender);
      return;
    }
    const receiveAndDelete = sender.snd_settle_mode === 1;
    const attach = internals(sender).local.attach;
    attach.snd_settle_mode = sender.snd_settle_mode;
    attach.rcv_settle_mode = sender.rcv_settle_mode;
    const consumer = new LinkConsumer(sender, route.entity, receiveAndDelete ? 'receiveAndDelete' : 'peekLock');
    this.consumers.set(sender, consumer);
    route.entity.addConsumer(consumer);
  }

  private refuse(link: Link, address: string): void {
    link.close({
      condition: Condition.notFound,
      description: `The messaging entity '${this.describeEntity(address)}' could not be found.`,
    });
  }

  private onTransfer(context: EventContext): void {
    const receiver = context.receiver;
    const route = receiver && this.inbound.get(receiver);
    if (!route) return;
    const format = (context as EventContext & { format?: number }).format;
    if (route.kind === 'entity') {
      for (const message of messagesFromTransfer(context.message, format)) route.entity.send(message);
      return;
    }
    const request = context.message as AmqpMessage | undefined;
    if (!request) return;
    // Any token is good enough: the broker does not authorise.
    if (route.kind === 'cbs') {
      // Any token is good enough: the broker does not authorise.
      this.reply(context.connection, request, { 'status-code': 202, 'status-description': 'Accepted' });
    } else if (route.kind === 'management') {
      this.onManagementRequest(route.entity.name, String(request.application_properties?.['operation'] ?? ''));
      const { statusCode, statusDescription, errorCondition, body } = handleManagementRequest(route.entity, request);
      this.reply(context.connection, request, { statusCode, statusDescription, errorCondition }, body);
    }
  }

  private reply(connection: Connection, request: AmqpMessage, status: Record<string, unknown>, body?: unknown): void {
    const replyTo = request['reply_to'];
    const sender = typeof replyTo === 'string' ? this.repliesOf(connection).get(replyTo) : undefined;
    if (!sender) return;
    const properties = Object.fromEntries(Object.entries(status).filter(([, value]) => value !== undefined));
    sender.send({ correlation_id: request.message_id, application_properties: properties, body } as Message);
  }

  private onDrain(context: EventContext): void {
    const consumer = this.consumerOf(context);
    if (!consumer) return;
    consumer.drainRequested = true;
    consumer.entity.requestDispatch();
  }

  private settle(context: EventContext, apply: (entity: MessageEntity, lockToken: string, delivery: Delivery) => void): void {
    const consumer = this.consumerOf(context);
    const delivery = context.delivery;
    if (!consumer || !delivery || consumer.mode !== 'peekLock') return;
    try {
      apply(consumer.entity, lockTokenFromDeliveryTag(delivery.tag), delivery);
      settleDelivery(delivery);
    } catch (error) {
      const condition = error instanceof LockLostError ? error.condition : Condition.internalError;
      settleDelivery(delivery, { condition, description: error instanceof Error ? error.message : String(error) });
    }
  }

  private consumerOf(context: EventContext): LinkConsumer | undefined {
    return context.sender ? this.consumers.get(context.sender) : undefined;
  }

  private repliesOf(connection: Connection): Map<string, Sender> {
    let replies = this.replyLinks.get(connection);
    if (!replies) {
      replies = new Map();
      this.replyLinks.set(connection, replies);
    }
    return replies;
  }

  private forgetSender(sender: Sender): void {
    const consumer = this.consumers.get(sender);
    if (consumer) consumer.entity.removeConsumer(consumer);
    this.consumers.delete(sender);
    const replies = this.replyLinks.get(sender.connection);
    if (replies?.get(replyAddressOf(sender)) === sender) replies.delete(replyAddressOf(sender));
  }

  private forgetConnection(connection: Connection): void {
    this.connections.delete(connection);
    for (const sender of [...this.consumers.keys()]) {
      if (sender.connection === connection) this.forgetSender(sender);
    }
    this.replyLinks.delete(connection);
  }
}

function onModified(entity: MessageEntity, lockToken: string, delivery: Delivery): void {
  const state = delivery.remote_state as { undeliverable_here?: boolean; message_annotations?: Record<string, unknown> } | undefined;
  if (state?.undeliverable_here) entity.defer(lockToken, state.message_annotations);
  else entity.abandon(lockToken, state?.message_annotations);
}

function onRejected(entity: MessageEntity, lockToken: string, delivery: Delivery): void {
  const error = (delivery.remote_state as { error?: AmqpError } | undefined)?.error;
  const info = { ...(error?.info as Record<string, unknown> | undefined) };
  const reason = info['DeadLetterReason'];
  const description = info['DeadLetterErrorDescription'];
  delete info['DeadLetterReason'];
  delete info['DeadLetterErrorDescription'];
  entity.deadLetter(lockToken, {
    reason: typeof reason === 'string' ? reason : undefined,
    description: typeof description === 'string' ? description : undefined,
    propertiesToModify: info,
  });
}

/** A broker that accepts a link answers with the same source and target. */
function echoTerminus(link: Link): void {
  if (link.source?.address !== undefined) link.set_source({ address: link.source.address });
  if (link.target?.address !== undefined) link.set_target({ address: link.target.address });
}

function replyAddressOf(sender: Sender): string {
  return sender.target?.address || sender.name;
}

function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('rhea event without its link');
  return value;
}
