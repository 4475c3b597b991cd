/**
 * Idempotent requests, after the Powertools idempotency utility: one record per key holding
 * the request's fingerprint, an in-progress marker with a short lock, and — once answered —
 * the first answer, kept for 24 hours. Pure: the webhook's use case stores the record and
 * carries the decision out.
 */

/** How long a key's first answer is returned for it. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60_000;
/** How long an unanswered request holds its key; a retry after that takes the request over. */
export const IDEMPOTENCY_LOCK_MS = 30_000;

export interface StoredAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface IdempotencyRecord {
  readonly key: string;
  /** What the request asked for (serial and body), hashed: the same key with another request is refused. */
  readonly fingerprint: string;
  readonly status: 'in-progress' | 'completed';
  /** Chosen when the key is first seen: a retry that takes an unanswered request over carries it on. */
  readonly requestId: string;
  readonly answer: StoredAnswer | undefined;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly lockedUntil: string;
}

export type IdempotencyDecision =
  /** No record, or only an expired one: this request goes ahead under a fresh request id. */
  | { readonly kind: 'start' }
  | { readonly kind: 'replay'; readonly answer: StoredAnswer }
  /** The key was used for a different request (422). */
  | { readonly kind: 'mismatch' }
  /** The first request with this key is still being answered (409, try again shortly). */
  | { readonly kind: 'in-progress' }
  /** The first request stopped without an answer: this one finishes it, as the same request. */
  | { readonly kind: 'resume'; readonly requestId: string };

export function decideIdempotency(record: IdempotencyRecord | undefined, fingerprint: string, now: Date): IdempotencyDecision {
  if (record === undefined || Date.parse(record.expiresAt) <= now.getTime()) return { kind: 'start' };
  if (record.fingerprint !== fingerprint) return { kind: 'mismatch' };
  if (record.status === 'completed' && record.answer) return { kind: 'replay', answer: record.answer };
  if (Date.parse(record.lockedUntil) > now.getTime()) return { kind: 'in-progress' };
  return { kind: 'resume', requestId: record.requestId };
}

/** The record a request writes when it takes its key (first, or taking over). */
export function inProgressRecord(
  key: string,
  fingerprint: string,
  requestId: string,
  now: Date,
  createdAt: string = now.toISOString(),
): IdempotencyRecord {
  return {
    key,
    fingerprint,
    status: 'in-progress',
    requestId,
    answer: undefined,
    createdAt,
    expiresAt: new Date(Date.parse(createdAt) + IDEMPOTENCY_TTL_MS).toISOString(),
    lockedUntil: new Date(now.getTime() + IDEMPOTENCY_LOCK_MS).toISOString(),
  };
}
