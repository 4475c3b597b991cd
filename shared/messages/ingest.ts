import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { OutgoingMessage } from './envelope.js';
import { QUEUES } from './queues.js';

/**
 * `ingest` on `ztp-followup`: the sweeper asks for a supplier file's intake to run again —
 * its batch stayed `processing` past the deadline, or its trigger gave up on it (the blob
 * trigger's poison queue, or an Event Grid dead letter). Intake is idempotent, so running it
 * again finishes what the first run left and changes nothing it already did. Queued rather
 * than run by the sweeper: a large file takes longer than a sweep should, and a failure backs
 * off and retries like any other work.
 */

export const INGEST = 'ingest';

/** Why the intake runs again; stable strings, in logs. */
export const INGEST_CAUSES = ['stuck', 'poisoned', 'dead-lettered'] as const;
export type IngestCause = (typeof INGEST_CAUSES)[number];

export const ingestPayloadSchema = z.object({
  /** The blob under hash-uploads, `{supplierId}/{fileName}`. */
  blobName: z.string().min(1).max(1024),
  cause: z.enum(INGEST_CAUSES),
  /** The stuck batch this run is meant to finish, when there is one. */
  batchId: z.string().min(1).optional(),
});

export type IngestPayload = z.infer<typeof ingestPayloadSchema>;
export type IngestMessage = OutgoingMessage<typeof INGEST, IngestPayload>;

export const ingestQueue = QUEUES.followup;

const digest = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

/**
 * One message per occasion: the n-th re-drive of a stuck batch, or one failed delivery of a
 * blob version (source and ETag), so two sweeps that find the same thing queue the same id.
 */
export function ingestMessage(payload: IngestPayload, occasion: string, correlationId: string): IngestMessage {
  return {
    kind: INGEST,
    correlationId,
    messageId: `ingest:${digest(`${payload.blobName}\n${payload.cause}\n${occasion}`)}`,
    payload,
  };
}
