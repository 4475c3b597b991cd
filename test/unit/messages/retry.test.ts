import { describe, expect, it } from 'vitest';
import type { Envelope, OutgoingMessage } from '../../../shared/messages/envelope.js';
import { rescheduledCopy } from '../../../shared/messages/retry.js';

/*
 * A copy is scheduled by the handler of the message it replaces, and that message may be
 * delivered again: the copy's id must then come out the same (Service Bus drops it), while
 * each copy along a chain needs an id of its own (or the next one would be dropped).
 */

type Payload = { readonly serialNumber: string; readonly generation: number };
const PAYLOAD: Payload = { serialNumber: 'PF3K-0042', generation: 4 };
const FIRST_ID = 'retag:PF3K-0042:4';
const first: Envelope<'retag', Payload> = { kind: 'retag', correlationId: 'corr-1', payload: PAYLOAD };

type Reason = 'throttled' | 'transient';

/** Each copy received in turn, as the queue would hand it over. */
function chain(reasons: readonly Reason[]): OutgoingMessage<'retag', Payload>[] {
  const copies: OutgoingMessage<'retag', Payload>[] = [];
  let received: Envelope<'retag', Payload> = first;
  let receivedId = FIRST_ID;
  for (const reason of reasons) {
    const copy = rescheduledCopy(received, receivedId, reason, received.payload);
    copies.push(copy);
    received = copy;
    receivedId = copy.messageId;
  }
  return copies;
}

describe('rescheduledCopy after a transient fault', () => {
  it('is attempt 1 of the work, under the first message’s id', () => {
    expect(rescheduledCopy(first, FIRST_ID, 'transient', PAYLOAD)).toEqual({
      kind: 'retag',
      correlationId: 'corr-1',
      payload: PAYLOAD,
      messageId: `${FIRST_ID}#1`,
      attempt: 1,
      workId: FIRST_ID,
    });
  });

  it.each([
    [1, `${FIRST_ID}#1`],
    [2, `${FIRST_ID}#2`],
    [5, `${FIRST_ID}#5`],
  ])('counts attempt %i along a chain, keeping the work id', (length, lastId) => {
    const last = chain(Array<Reason>(length).fill('transient')).at(-1)!;
    expect(last).toMatchObject({ messageId: lastId, attempt: length, workId: FIRST_ID, correlationId: 'corr-1' });
  });

  it('carries the payload the handler hands over, not the one received', () => {
    const next = { ...PAYLOAD, generation: 5 };
    expect(rescheduledCopy(first, FIRST_ID, 'transient', next).payload).toBe(next);
  });
});

describe('rescheduledCopy after throttling', () => {
  it('keeps the attempt and adds a short hash of the message it replaces', () => {
    const copy = rescheduledCopy(first, FIRST_ID, 'throttled', PAYLOAD);
    expect(copy).toMatchObject({ attempt: 0, workId: FIRST_ID, kind: 'retag', correlationId: 'corr-1' });
    expect(copy.messageId).toMatch(new RegExp(`^${FIRST_ID}#0@[0-9a-f]{12}$`));
  });

  it.each([
    ['the first message', [] as Reason[]],
    ['a throttled copy', ['throttled'] as Reason[]],
    ['a transient copy', ['transient'] as Reason[]],
    ['a long chain', ['throttled', 'transient', 'throttled', 'throttled'] as Reason[]],
  ])('derives the same copy from %s delivered again', (_, before) => {
    const received = before.length === 0 ? { ...first, messageId: FIRST_ID } : chain(before).at(-1)!;
    const once = rescheduledCopy(received, received.messageId, 'throttled', PAYLOAD);
    const again = rescheduledCopy({ ...received }, received.messageId, 'throttled', PAYLOAD);
    expect(again.messageId).toBe(once.messageId);
  });

  it('gives every copy along a throttled chain an id of its own', () => {
    const copies = chain(Array<Reason>(6).fill('throttled')).map((copy) => copy.messageId);
    expect(new Set([FIRST_ID, ...copies]).size).toBe(copies.length + 1);
    for (const id of copies) expect(id.startsWith(`${FIRST_ID}#0@`)).toBe(true);
  });

  it.each<[string, Reason[], number]>([
    ['throttled then transient', ['throttled', 'transient'], 1],
    ['transient then throttled', ['transient', 'throttled'], 1],
    ['transient twice, throttled twice', ['transient', 'throttled', 'transient', 'throttled'], 2],
  ])('counts only the transient faults: %s is attempt $2', (_, reasons, attempt) => {
    const copies = chain(reasons);
    expect(copies.at(-1)).toMatchObject({ attempt, workId: FIRST_ID });
    expect(new Set(copies.map((copy) => copy.messageId)).size).toBe(copies.length);
  });
});

describe('rescheduledCopy of different work', () => {
  it.each<Reason>(['transient', 'throttled'])('keeps the copies of two messages apart (%s)', (reason) => {
    const a = rescheduledCopy(first, FIRST_ID, reason, PAYLOAD).messageId;
    const b = rescheduledCopy({ ...first, payload: { ...PAYLOAD, generation: 5 } }, 'retag:PF3K-0042:5', reason, PAYLOAD).messageId;
    expect(a).not.toBe(b);
  });
});
