import { z } from 'zod';

/**
 * What travels on the queues: an envelope naming the message's kind, its correlation id and
 * its payload. Bodies are parsed, never cast: a body that is not an envelope, a kind a queue
 * does not carry, or a payload that fails its schema is poison — set aside at once with a
 * reason that names it, never retried.
 */

export interface Envelope<K extends string = string, P = unknown> {
  readonly kind: K;
  readonly correlationId: string;
  readonly payload: P;
  /** How many times this work was rescheduled after a transient fault. */
  readonly attempt?: number;
  /**
   * The id of the message that first carried this work. Rescheduled copies derive their ids
   * from it, so a redelivered message schedules the same copy (duplicate detection drops it).
   */
  readonly workId?: string;
}

export interface OutgoingMessage<K extends string = string, P = unknown> extends Envelope<K, P> {
  /** Deterministic id for duplicate detection: same logical work, same id. */
  readonly messageId: string;
}

const envelopeSchema = z.object({
  kind: z.string().min(1),
  correlationId: z.string(),
  payload: z.unknown(),
  attempt: z.number().int().nonnegative().optional(),
  workId: z.string().min(1).optional(),
});

/** Why a message was set aside; stable codes, used in logs and the poison record. */
export type PoisonReason = 'not-an-envelope' | 'unknown-kind' | 'invalid-payload';

export interface Poison {
  readonly ok: false;
  readonly reason: PoisonReason;
  /** Names the kind and the fields that failed; never the body's values. */
  readonly description: string;
  /** Whatever could be read of the envelope, for the record. */
  readonly kind?: string;
  readonly correlationId?: string;
}

/** Zod issues as `payload.serialNumbers: expected array` — paths and expectations, no values. */
export function describeIssues(error: z.ZodError, prefix: string): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${[prefix, ...issue.path.map(String)].join('.')}: ${issue.message}`)
    .join('; ');
}

/** The envelope of a received body, or why it is not one. */
export function parseEnvelope(body: unknown): { ok: true; envelope: Envelope } | Poison {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return {
        ok: false,
        reason: 'not-an-envelope',
        description: 'not a work envelope {kind, correlationId, payload}: body: text that is not JSON',
      };
    }
  }
  const parsed = envelopeSchema.safeParse(value);
  if (parsed.success) return { ok: true, envelope: parsed.data };
  return {
    ok: false,
    reason: 'not-an-envelope',
    description: `not a work envelope {kind, correlationId, payload}: ${describeIssues(parsed.error, 'body')}`,
  };
}
