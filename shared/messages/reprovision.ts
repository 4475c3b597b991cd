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
