import { createHash } from 'node:crypto';
import type { Envelope, OutgoingMessage } from './envelope.js';

/**
 * Ids of rescheduled copies. A transient retry is `<work>#<attempt>`; a throttled copy keeps
 * its attempt, so it adds a hash of the message it replaces — each copy in a chain of
 * throttled ones gets a new id, yet a redelivered message derives the same one.
 */
export function rescheduledCopy<K extends string, P>(
  received: Envelope<K, P>,
  receivedMessageId: string,
  reason: 'throttled' | 'transient',
  payload: P,
): OutgoingMessage<K, P> {
  const workId = received.workId ?? receivedMessageId;
  const attempt = received.attempt ?? 0;
  const next = reason === 'transient' ? attempt + 1 : attempt;
  const messageId =
    reason === 'transient'
      ? `${workId}#${next}`
      : `${workId}#${attempt}@${createHash('sha256').update(receivedMessageId).digest('hex').slice(0, 12)}`;
  return { kind: received.kind, correlationId: received.correlationId, messageId, payload, attempt: next, workId };
}
