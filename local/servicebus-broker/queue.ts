// The message state machine of one entity (a queue or its dead-letter sub-queue):
// scheduled -> active -> locked -> completed | abandoned | deferred | dead-lettered.
// Knows nothing about AMQP links; consumers are fed through the Consumer interface.
import { randomUUID } from 'node:crypto';
import {
  Annotation,
  messageIdKey,
  scheduledTimeOf,
  stampBrokerProperties,
  withMessageId,
  type AmqpMessage,
  type MessageState,
} from './encoding.js';

export type ReceiveMode = 'peekLock' | 'receiveAndDelete';

/** A message handed to a receiver; lockToken is set in peek-lock mode. */
export interface Delivered {
  message: AmqpMessage;
  lockToken?: string;
}

export interface Consumer {
  readonly mode: ReceiveMode;
  /** How many messages the consumer can take right now. */
  credit(): number;
  deliver(delivered: Delivered): void;
  /** The entity has no more messages for this consumer in this round. */
  idle(): void;
}

export interface EntitySettings {
  maxDeliveryCount: number;
  lockDurationMs: number;
  duplicateDetectionWindowMs: number;
}

export interface DeadLetterDetails {
  reason?: string;
  description?: string;
  propertiesToModify?: Record<string, unknown>;
}

export class LockLostError extends Error {
  readonly condition = 'com.microsoft:message-lock-lost';
  constructor() {
    super('The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.');
  }
}

export class MessageNotFoundError extends Error {
  readonly condition = 'com.microsoft:message-not-found';
}

interface StoredMessage {
  readonly sequenceNumber: number;
  amqp: AmqpMessage;
  state: MessageState;
  enqueuedAt: number;
  /** Completed delivery attempts; shown to the receiver as its delivery_count. */
  deliveryCount: number;
  lock?: { token: string; until: number };
}

export interface EntityStats {
  active: number;
  scheduled: number;
  locked: number;
  deferred: number;
  total: number;
}

/** What went through an entity since it started: never decreases, unlike EntityStats. */
export interface EntityTraffic {
  /** Messages accepted from senders, scheduled ones included, duplicates not. */
  sent: number;
  /** Sent again within the duplicate-detection window, accepted and dropped. */
  duplicates: number;
  /** Deliveries to receivers, redeliveries included. */
  delivered: number;
  completed: number;
}

export class MessageEntity {
  private readonly counters: EntityTraffic = { sent: 0, duplicates: 0, delivered: 0, completed: 0 };
  private readonly messages = new Map<number, StoredMessage>();
  private readonly locks = new Map<string, StoredMessage>();
  private readonly consumers = new Set<Consumer>();
  private readonly recentMessageIds = new Map<string, number>();
  private lastSequenceNumber = 0;
  /** Where the next dispatch round starts among the consumers. */
  private rotation = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private pendingDispatch: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly settings: EntitySettings,
    /** Where dead-lettered messages go; undefined for a dead-letter queue itself. */
    private readonly deadLetterQueue?: MessageEntity,
  ) {}

  /** Enqueues a sent message (scheduled if it carries a future scheduled enqueue time). */
  send(message: AmqpMessage): void {
    this.add(withMessageId(message), scheduledTimeOf(message));
  }

  /** Returns the sequence number the scheduled message was given. */
  schedule(message: AmqpMessage, at: number): number {
    return this.add(withMessageId(message), at);
  }

  cancelScheduled(sequenceNumbers: number[]): void {
    for (const sequenceNumber of sequenceNumbers) {
      if (this.messages.get(sequenceNumber)?.state === 'scheduled') this.messages.delete(sequenceNumber);
    }
    this.rearmTimer();
  }

  addConsumer(consumer: Consumer): void {
    this.consumers.add(consumer);
    this.requestDispatch();
  }

  removeConsumer(consumer: Consumer): void {
    this.consumers.delete(consumer);
  }

  /**
   * Dispatch runs in its own turn of the event loop: rhea counts a link's credit down only
   * when it writes the transfer, so a later turn sees the credit that is really left.
   * (Not unref'd: an unref'd immediate waits for the next I/O or timer before it runs.)
   */
  requestDispatch(): void {
    if (this.pendingDispatch || this.closed) return;
    this.pendingDispatch = setImmediate(() => {
      this.pendingDispatch = undefined;
      this.dispatch();
    });
  }

  complete(lockToken: string): void {
    this.remove(this.lockedMessage(lockToken));
    this.counters.completed += 1;
  }

  abandon(lockToken: string, propertiesToModify?: Record<string, unknown>): void {
    const message = this.lockedMessage(lockToken);
    applyProperties(message, propertiesToModify);
    this.unlock(message);
  }

  defer(lockToken: string, propertiesToModify?: Record<string, unknown>): void {
    const message = this.lockedMessage(lockToken);
    applyProperties(message, propertiesToModify);
    this.releaseLock(message);
    message.state = 'deferred';
  }

  deadLetter(lockToken: string, details: DeadLetterDetails): void {
    this.moveToDeadLetter(this.lockedMessage(lockToken), details);
  }

  renewLock(lockToken: string): Date {
    const message = this.lockedMessage(lockToken);
    const lock = message.lock;
    if (!lock) throw new LockLostError();
    lock.until = Date.now() + this.settings.lockDurationMs;
    this.rearmTimer();
    return new Date(lock.until);
  }

  /** Everything in the entity from a sequence number on, without locking or consuming. */
  peek(fromSequenceNumber: number, count: number): AmqpMessage[] {
    this.dropExpired();
    return [...this.messages.values()]
      .filter((m) => m.sequenceNumber >= fromSequenceNumber)
      .sort((a, b) => a.sequenceNumber - b.sequenceNumber)
      .slice(0, count)
      .map((m) => this.view(m));
  }

  receiveDeferred(sequenceNumbers: number[], mode: ReceiveMode): Delivered[] {
    const found = sequenceNumbers.map((n) => this.messages.get(n));
    if (found.some((m) => m === undefined || m.state !== 'deferred' || m.lock)) {
      throw new MessageNotFoundError('The requested message was not found or is not deferred.');
    }
    return (found as StoredMessage[]).map((m) => this.take(m, mode));
  }

  stats(): EntityStats {
    this.dropExpired();
    const all = [...this.messages.values()];
    return {
      active: all.filter((m) => m.state === 'active' && !m.lock).length,
      scheduled: all.filter((m) => m.state === 'scheduled').length,
      locked: all.filter((m) => m.lock).length,
      deferred: all.filter((m) => m.state === 'deferred' && !m.lock).length,
      total: all.length,
    };
  }

  traffic(): EntityTraffic {
    return { ...this.counters };
  }

  close(): void {
    this.closed = true;
    this.consumers.clear();
    clearTimeout(this.wakeTimer);
    if (this.pendingDispatch) clearImmediate(this.pendingDispatch);
  }

  /** Takes a message that was dead-lettered from the parent queue. */
  private acceptDeadLettered(message: StoredMessage): void {
    this.messages.set(message.sequenceNumber, { ...message, state: 'active', lock: undefined });
    this.requestDispatch();
  }

  private add(message: AmqpMessage, scheduledAt: number | undefined): number {
    const sequenceNumber = ++this.lastSequenceNumber;
    // Service Bus accepts a duplicate and silently drops it, so the sender never notices.
    if (this.isDuplicate(message)) {
      this.counters.duplicates += 1;
      return sequenceNumber;
    }
    this.counters.sent += 1;
    const now = Date.now();
    const scheduled = scheduledAt !== undefined && scheduledAt > now;
    const annotations = { ...message.message_annotations };
    if (scheduledAt !== undefined) annotations[Annotation.scheduledEnqueueTime] = new Date(scheduledAt);
    this.messages.set(sequenceNumber, {
      sequenceNumber,
      amqp: { ...message, message_annotations: annotations },
      state: scheduled ? 'scheduled' : 'active',
      enqueuedAt: scheduled ? scheduledAt : now,
      deliveryCount: 0,
    });
    if (scheduled) this.rearmTimer();
    else this.requestDispatch();
    return sequenceNumber;
  }

  private isDuplicate(message: AmqpMessage): boolean {
    const window = this.settings.duplicateDetectionWindowMs;
    const key = messageIdKey(message.message_id);
    if (window <= 0 || key === undefined) return false;
    const now = Date.now();
    for (const [id, seenAt] of this.recentMessageIds) {
      if (now - seenAt >= window) this.recentMessageIds.delete(id);
    }
    if (this.recentMessageIds.has(key)) return true;
    this.recentMessageIds.set(key, now);
    return false;
  }

  private dispatch(): void {
    this.dropExpired();
    // Each round starts after the consumer served last, so receivers with room take turns (as
    // on Service Bus) instead of the first attached taking all it has credit for.
    const attached = [...this.consumers];
    const start = attached.length > 0 ? this.rotation % attached.length : 0;
    const consumers = [...attached.slice(start), ...attached.slice(0, start)];
    const budget = new Map(consumers.map((c) => [c, c.credit()]));
    let next = this.nextAvailable();
    let progressed = true;
    while (next && progressed) {
      progressed = false;
      for (const consumer of consumers) {
        if (!next) break;
        if ((budget.get(consumer) ?? 0) <= 0) continue;
        budget.set(consumer, (budget.get(consumer) ?? 0) - 1);
        consumer.deliver(this.take(next, consumer.mode));
        this.rotation = attached.indexOf(consumer) + 1;
        progressed = true;
        next = this.nextAvailable();
      }
    }
    for (const consumer of consumers) consumer.idle();
  }

  private nextAvailable(): StoredMessage | undefined {
    for (const message of this.messages.values()) {
      if (message.state === 'active' && !message.lock) return message;
    }
    return undefined;
  }

  private take(message: StoredMessage, mode: ReceiveMode): Delivered {
    const deliveryCount = message.deliveryCount++;
    this.counters.delivered += 1;
    if (mode === 'receiveAndDelete') {
      this.messages.delete(message.sequenceNumber);
      return { message: this.view(message, deliveryCount) };
    }
    const token = randomUUID();
    message.lock = { token, until: Date.now() + this.settings.lockDurationMs };
    this.locks.set(token, message);
    this.rearmTimer();
    return { message: this.view(message, deliveryCount), lockToken: token };
  }

  private view(message: StoredMessage, deliveryCount = message.deliveryCount): AmqpMessage {
    return stampBrokerProperties(message.amqp, {
      sequenceNumber: message.sequenceNumber,
      enqueuedAt: message.enqueuedAt,
      deliveryCount,
      state: message.state,
      lockedUntil: message.lock?.until,
    });
  }

  private lockedMessage(lockToken: string): StoredMessage {
    const message = this.locks.get(lockToken);
    if (!message?.lock) throw new LockLostError();
    if (message.lock.until <= Date.now()) {
      this.unlock(message);
      throw new LockLostError();
    }
    return message;
  }

  private releaseLock(message: StoredMessage): void {
    if (message.lock) this.locks.delete(message.lock.token);
    message.lock = undefined;
  }

  /** Abandon and lock expiry: the message goes back, or to the dead-letter queue when it ran out of attempts. */
  private unlock(message: StoredMessage): void {
    this.releaseLock(message);
    if (message.state === 'active' && message.deliveryCount >= this.settings.maxDeliveryCount && this.deadLetterQueue) {
      this.moveToDeadLetter(message, {
        reason: 'MaxDeliveryCountExceeded',
        description: `Message could not be consumed after ${this.settings.maxDeliveryCount} delivery attempts.`,
      });
      return;
    }
    this.requestDispatch();
  }

  private remove(message: StoredMessage): void {
    this.releaseLock(message);
    this.messages.delete(message.sequenceNumber);
  }

  private moveToDeadLetter(message: StoredMessage, details: DeadLetterDetails): void {
    applyProperties(message, {
      ...details.propertiesToModify,
      ...(details.reason !== undefined ? { DeadLetterReason: details.reason } : {}),
      ...(details.description !== undefined ? { DeadLetterErrorDescription: details.description } : {}),
    });
    if (!this.deadLetterQueue) {
      // A dead-letter queue has nowhere further to send it; keep it where it is.
      this.releaseLock(message);
      this.requestDispatch();
      return;
    }
    this.remove(message);
    message.amqp = {
      ...message.amqp,
      message_annotations: { ...message.amqp.message_annotations, [Annotation.deadLetterSource]: this.name },
    };
    this.deadLetterQueue.acceptDeadLettered(message);
  }

  private dropExpired(): void {
    const now = Date.now();
    for (const message of this.messages.values()) {
      const ttl = message.amqp.ttl;
      if (message.state === 'active' && !message.lock && ttl && message.enqueuedAt + ttl <= now) {
        this.messages.delete(message.sequenceNumber);
      }
    }
  }

  /** One timer per entity, armed for the next scheduled enqueue or lock expiry. */
  private rearmTimer(): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (this.closed) return;
    let nextDue = Infinity;
    for (const message of this.messages.values()) {
      if (message.state === 'scheduled') nextDue = Math.min(nextDue, message.enqueuedAt);
      if (message.lock) nextDue = Math.min(nextDue, message.lock.until);
    }
    if (nextDue === Infinity) return;
    this.wakeTimer = setTimeout(() => this.wake(), Math.max(0, nextDue - Date.now()));
    this.wakeTimer.unref();
  }

  private wake(): void {
    const now = Date.now();
    let activated = false;
    for (const message of [...this.messages.values()]) {
      if (message.state === 'scheduled' && message.enqueuedAt <= now) {
        message.state = 'active';
        activated = true;
      }
      if (message.lock && message.lock.until <= now) this.unlock(message);
    }
    if (activated) this.requestDispatch();
    this.rearmTimer();
  }
}

function applyProperties(message: StoredMessage, properties: Record<string, unknown> | undefined): void {
  if (!properties) return;
  const defined = Object.entries(properties).filter(([, value]) => value !== undefined && value !== null);
  if (defined.length === 0) return;
  message.amqp = {
    ...message.amqp,
    application_properties: { ...message.amqp.application_properties, ...Object.fromEntries(defined) },
  };
}
