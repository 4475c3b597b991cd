import { z } from 'zod';
import type { OutgoingMessage } from './envelope.js';
import { QUEUES } from './queues.js';

/** `reprovision` on `ztp-reprovision`: a service-desk request the webhook accepted, to carry out in Graph. */

export const REPROVISION = 'reprovision';

export const reprovisionPayloadSchema = z.object({
  serialNumber: z.string().min(1),
  /** The request on the device record this message carries out; any other request makes it stale. */
  requestId: z.uuid(),
});

export type ReprovisionPayload = z.infer<typeof reprovisionPayloadSchema>;
export type ReprovisionMessage = OutgoingMessage<typeof REPROVISION, ReprovisionPayload>;

export const reprovisionQueue = QUEUES.reprovision;

/** One message per request: the webhook, a retry of it and the sweeper all send the same id. */
export function reprovisionMessage(payload: ReprovisionPayload, correlationId: string): ReprovisionMessage {
  return { kind: REPROVISION, correlationId, messageId: `reprovision:${payload.requestId}`, payload };
}

/**
 * A stalled request re-driven before its Graph call was answered: the worker takes it up again.
 * `sequence` is the history sequence of the re-drive's transition, so the id is new to the queue's
 * duplicate detection, which may still hold the request's first message.
 */
export function redriveReprovisionMessage(payload: ReprovisionPayload, sequence: number, correlationId: string): ReprovisionMessage {
  return { kind: REPROVISION, correlationId, messageId: `reprovision:${payload.requestId}:redrive:${sequence}`, payload };
}
