import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { OutgoingMessage } from './envelope.js';
import { QUEUES } from './queues.js';

/**
 * `redrive` on `ztp-followup`: a file came again (same content) while some of its devices were
 * stalled; they are re-driven. The re-drive asks Autopilot about devices stalled on their import,
 * so it runs as Graph work does, rescheduled when throttled, rather than in the intake.
 */

export const REDRIVE = 'redrive';

export const redrivePayloadSchema = z.object({
  batchId: z.string().min(1),
  /** On a rescheduled copy: the devices Autopilot could not be asked about yet (the others are done). */
  serialNumbers: z.array(z.string().min(1)).min(1).max(1000).optional(),
});

export type RedrivePayload = z.infer<typeof redrivePayloadSchema>;
export type RedriveMessage = OutgoingMessage<typeof REDRIVE, RedrivePayload>;

export const redriveQueue = QUEUES.followup;

/** One re-drive per upload (the blob and its ETag): a redelivered trigger queues the same id. */
export function redriveMessage(batchId: string, upload: { blobName: string; etag: string }, correlationId: string): RedriveMessage {
  const digest = createHash('sha256').update(`${upload.blobName}\n${upload.etag}`).digest('hex').slice(0, 32);
  return { kind: REDRIVE, correlationId, messageId: `redrive:${batchId}:${digest}`, payload: { batchId } };
}
