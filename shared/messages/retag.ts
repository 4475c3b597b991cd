import { createHash } from 'node:crypto';
import { z } from 'zod';
import { serialKey } from '../domain/device.js';
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

/** Serials up to this long appear in the id as they are compared; longer ones by a hash, so every id fits Service Bus's 128 characters with room for a copy's suffix. */
const READABLE_SERIAL = 64;

/** One re-tag per device generation, whichever spelling of the serial asked for it. */
export function retagMessage(payload: RetagPayload, correlationId: string): RetagMessage {
  const key = serialKey(payload.serialNumber);
  const device = key.length <= READABLE_SERIAL ? key : `#${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
  return { kind: RETAG, correlationId, messageId: `retag:${device}:${payload.generation}`, payload };
}
