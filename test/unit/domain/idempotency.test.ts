import { describe, expect, it } from 'vitest';
import { decideIdempotency, IDEMPOTENCY_LOCK_MS, IDEMPOTENCY_TTL_MS, inProgressRecord } from '../../../shared/domain/idempotency.js';

const NOW = new Date('2026-03-02T10:00:00.000Z');
const later = (ms: number): Date => new Date(NOW.getTime() + ms);

describe('decideIdempotency', () => {
  const first = inProgressRecord('key-1', 'fp-a', 'req-1', NOW);
  const answered = { ...first, status: 'completed' as const, answer: { status: 202, body: { requestId: 'req-1' } } };

  it('a new key starts the request', () => {
    expect(decideIdempotency(undefined, 'fp-a', NOW)).toEqual({ kind: 'start' });
  });

  it('a repeat gets the first answer for 24 hours, whatever its status', () => {
    expect(decideIdempotency(answered, 'fp-a', later(IDEMPOTENCY_TTL_MS - 1))).toEqual({ kind: 'replay', answer: answered.answer });
    const refused = { ...answered, answer: { status: 409, body: { error: { code: 'action-not-allowed' } } } };
    expect(decideIdempotency(refused, 'fp-a', later(1000))).toEqual({ kind: 'replay', answer: refused.answer });
  });

  it('after 24 hours the key is free again', () => {
    expect(decideIdempotency(answered, 'fp-a', later(IDEMPOTENCY_TTL_MS))).toEqual({ kind: 'start' });
    expect(decideIdempotency(answered, 'fp-b', later(IDEMPOTENCY_TTL_MS))).toEqual({ kind: 'start' });
  });

  it('the same key with another request is refused, answered or not', () => {
    expect(decideIdempotency(answered, 'fp-b', later(1000))).toEqual({ kind: 'mismatch' });
    expect(decideIdempotency(first, 'fp-b', later(1000))).toEqual({ kind: 'mismatch' });
  });

  it('an unanswered request holds its key for the lock, then a retry takes it over as the same request', () => {
    expect(decideIdempotency(first, 'fp-a', later(IDEMPOTENCY_LOCK_MS - 1))).toEqual({ kind: 'in-progress' });
    expect(decideIdempotency(first, 'fp-a', later(IDEMPOTENCY_LOCK_MS))).toEqual({ kind: 'resume', requestId: 'req-1' });
  });

  it('a record taken over keeps its creation time, so the key still expires a day after first use', () => {
    const resumed = inProgressRecord('key-1', 'fp-a', 'req-1', later(60_000), first.createdAt);
    expect(resumed.expiresAt).toBe(first.expiresAt);
    expect(Date.parse(resumed.lockedUntil)).toBe(later(60_000 + IDEMPOTENCY_LOCK_MS).getTime());
  });
});
