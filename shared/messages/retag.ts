import { z } from 'zod';
import type { OutgoingMessage } from './envelope.js';
import { QUEUES } from './queues.js';

/** `retag` on `ztp-followup`: a known device got a new group tag from a supplier file. */

export const RETAG = 'retag';

export const retagPayloadSchema = z.object({
  serialNumber: z.string().min(1),
  /** The device generation the new tag belongs to; work for an older one is stale. */
  generation: z.number().int().positive(),
});

export type RetagPayload = z.infer<typeof retagPayloadSchema>;
export type RetagMessage = OutgoingMessage<typeof RETAG, RetagPayload>;

export const retagQueue = QUEUES.followup;

/** One re-tag per device generation. */
export function retagMessage(payload: RetagPayload, correlationId: string): RetagMessage {
  return { kind: RETAG, correlationId, messageId: `retag:${payload.serialNumber}:${payload.generation}`, payload };
}
