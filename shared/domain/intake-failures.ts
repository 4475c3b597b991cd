import { Buffer } from 'node:buffer';
import { z } from 'zod';
import { INTAKE_CONTAINER } from './blob-layout.js';

/**
 * The two records Azure keeps of a supplier file its trigger gave up on, read as what they say
 * about the file. Both are written by Azure, not by the product, so anything that is not the
 * documented shape is ignored rather than trusted.
 *
 * - The blob trigger (Event Grid source included) retries a failing blob five times, then puts
 *   a message on the storage queue `webjobs-blobtrigger-poison`: a JSON object with
 *   `FunctionId`, `BlobType`, `ContainerName`, `BlobName` and `ETag` (learn.microsoft.com,
 *   "Azure Blob storage trigger for Azure Functions", Poison blobs). The host writes queue
 *   messages base64-encoded by default (host.json `extensions.queues.messageEncoding`), so both
 *   plain and base64 text are read.
 * - Event Grid dead-letters an event it could not deliver within its retry policy as a blob in
 *   the subscription's dead-letter container: a JSON array of the events, each with
 *   `deadLetterReason`, `deliveryAttempts`, `lastDeliveryOutcome`, `publishTime` and
 *   `lastDeliveryAttemptTime` added (learn.microsoft.com, "Dead letter and retry policies").
 *   A BlobCreated event names its blob in `subject`
 *   (`/blobServices/default/containers/{container}/blobs/{name}`) and its version in `data.eTag`.
 */

/** The storage queue the Functions host puts a blob on after the blob trigger's last retry. */
export const BLOB_TRIGGER_POISON_QUEUE = 'webjobs-blobtrigger-poison';

/** Where Event Grid puts the BlobCreated events it could not deliver (infra: blob-events-subscription.bicep). */
export const INTAKE_EVENTS_DEAD_LETTER_CONTAINER = 'hash-upload-events-deadletter';

export interface FailedBlob {
  /** The blob under the intake container: `{supplierId}/{fileName}`. */
  readonly blobName: string;
  readonly etag: string | undefined;
  readonly reason: string;
  readonly attempts: number | undefined;
  readonly failedAt: string | undefined;
}

const poisonMessageSchema = z.object({
  FunctionId: z.string().optional(),
  ContainerName: z.string(),
  BlobName: z.string().min(1),
  ETag: z.string().optional(),
});

function json(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Plain JSON, or JSON in base64 (the host's default queue encoding). */
function messageJson(text: string): unknown {
  const plain = json(text);
  if (plain !== undefined) return plain;
  return /^[A-Za-z0-9+/=\s]+$/.test(text) ? json(Buffer.from(text, 'base64').toString('utf8')) : undefined;
}

/** A poison-queue message as the intake blob it names; undefined for any other container or shape. */
export function readPoisonBlobMessage(text: string, insertedOn: string | undefined): FailedBlob | undefined {
  const parsed = poisonMessageSchema.safeParse(messageJson(text));
  if (!parsed.success || parsed.data.ContainerName !== INTAKE_CONTAINER) return undefined;
  const message = parsed.data;
  return {
    blobName: message.BlobName,
    etag: message.ETag || undefined,
    reason: `the blob trigger gave up after its retries${message.FunctionId ? ` (${message.FunctionId})` : ''}`,
    attempts: undefined,
    failedAt: insertedOn,
  };
}

const deadLetteredEventSchema = z.object({
  subject: z.string(),
  eventType: z.string().optional(),
  data: z.object({ eTag: z.string().optional(), url: z.string().optional() }).partial().optional(),
  deadLetterReason: z.string().optional(),
  deliveryAttempts: z.number().int().nonnegative().optional(),
  lastDeliveryOutcome: z.string().optional(),
  lastDeliveryAttemptTime: z.string().optional(),
  publishTime: z.string().optional(),
});

const SUBJECT_PREFIX = `/blobServices/default/containers/${INTAKE_CONTAINER}/blobs/`;

/** The intake blobs of a dead-letter blob's events; events about anything else are left out. */
export function readDeadLetteredEvents(text: string): FailedBlob[] {
  const parsed = json(text);
  const events = Array.isArray(parsed) ? parsed : parsed === undefined ? [] : [parsed];
  const blobs: FailedBlob[] = [];
  for (const candidate of events) {
    const event = deadLetteredEventSchema.safeParse(candidate);
    if (!event.success || !event.data.subject.startsWith(SUBJECT_PREFIX)) continue;
    const { data, deadLetterReason, lastDeliveryOutcome } = event.data;
    const blobName = event.data.subject.slice(SUBJECT_PREFIX.length);
    if (blobName === '') continue;
    blobs.push({
      blobName,
      etag: data?.eTag || undefined,
      reason: [
        `Event Grid dead-lettered the upload event${deadLetterReason ? `: ${deadLetterReason}` : ''}`,
        lastDeliveryOutcome ? `last delivery ${lastDeliveryOutcome}` : undefined,
      ]
        .filter(Boolean)
        .join('; '),
      attempts: event.data.deliveryAttempts,
      failedAt: event.data.lastDeliveryAttemptTime ?? event.data.publishTime,
    });
  }
  return blobs;
}
