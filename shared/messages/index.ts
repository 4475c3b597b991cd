/**
 * The message contracts: for each kind, its schema, its queue and its idempotent id, in one
 * place. Senders build messages here; handlers receive them parsed (`parseMessage`).
 */
import type { z } from 'zod';
import { describeIssues, parseEnvelope, type Envelope, type Poison } from './envelope.js';
import { IMPORT_CHUNK, importChunkPayloadSchema, type ImportChunkPayload } from './import-chunk.js';
import { INGEST, ingestPayloadSchema, type IngestPayload } from './ingest.js';
import { QUEUES, type QueueName } from './queues.js';
import { REDRIVE, redrivePayloadSchema, type RedrivePayload } from './redrive.js';
import { REPROVISION, reprovisionPayloadSchema, type ReprovisionPayload } from './reprovision.js';
import { RETAG, retagPayloadSchema, type RetagPayload } from './retag.js';
import { TICK, tickPayloadSchema, type TickPayload } from './tick.js';

export { describeIssues, parseEnvelope, type Envelope, type OutgoingMessage, type Poison, type PoisonReason } from './envelope.js';
export {
  describeSource,
  fileChunkMessage,
  IMPORT_CHUNK,
  importChunkQueue,
  redriveImportMessage,
  requeueMessage,
  resubmitMessage,
  type ImportChunkMessage,
  type ImportChunkPayload,
  type ImportChunkSource,
} from './import-chunk.js';
export { INGEST, INGEST_CAUSES, ingestMessage, ingestQueue, type IngestCause, type IngestMessage, type IngestPayload } from './ingest.js';
export { isQueueName, QUEUES, type QueueName } from './queues.js';
export { rescheduledCopy } from './retry.js';
export { REDRIVE, redriveMessage, redriveQueue, type RedriveMessage, type RedrivePayload } from './redrive.js';
export {
  REPROVISION,
  redriveReprovisionMessage,
  reprovisionMessage,
  reprovisionQueue,
  type ReprovisionMessage,
  type ReprovisionPayload,
} from './reprovision.js';
export { RETAG, retagMessage, retagQueue, type RetagMessage, type RetagPayload } from './retag.js';
export { TICK, TICK_NAMES, tickMessage, tickQueue, type TickMessage, type TickName, type TickPayload } from './tick.js';

/** A message as a handler receives it: kind and payload checked together. */
export type PipelineMessage =
  | (Envelope<typeof IMPORT_CHUNK, ImportChunkPayload> & { readonly kind: typeof IMPORT_CHUNK })
  | (Envelope<typeof RETAG, RetagPayload> & { readonly kind: typeof RETAG })
  | (Envelope<typeof REPROVISION, ReprovisionPayload> & { readonly kind: typeof REPROVISION })
  | (Envelope<typeof REDRIVE, RedrivePayload> & { readonly kind: typeof REDRIVE })
  | (Envelope<typeof INGEST, IngestPayload> & { readonly kind: typeof INGEST })
  | (Envelope<typeof TICK, TickPayload> & { readonly kind: typeof TICK });

export type PipelineKind = PipelineMessage['kind'];

const PAYLOADS: Readonly<Record<PipelineKind, z.ZodType>> = {
  [IMPORT_CHUNK]: importChunkPayloadSchema,
  [RETAG]: retagPayloadSchema,
  [REPROVISION]: reprovisionPayloadSchema,
  [REDRIVE]: redrivePayloadSchema,
  [INGEST]: ingestPayloadSchema,
  [TICK]: tickPayloadSchema,
};

/** The kinds each queue carries; any other kind on a queue is poison. */
export const KINDS_BY_QUEUE: Readonly<Record<QueueName, readonly PipelineKind[]>> = {
  [QUEUES.import]: [IMPORT_CHUNK],
  [QUEUES.followup]: [TICK, RETAG, REDRIVE, INGEST],
  [QUEUES.reprovision]: [REPROVISION],
};

/** A received body as the message it claims to be, or the poison it is. */
export function parseMessage(queue: QueueName, body: unknown): { ok: true; message: PipelineMessage } | Poison {
  const read = parseEnvelope(body);
  if (!read.ok) return read;
  const { envelope } = read;
  const known = { kind: envelope.kind, correlationId: envelope.correlationId };
  const kind = KINDS_BY_QUEUE[queue].find((candidate) => candidate === envelope.kind);
  if (kind === undefined) {
    const carried = KINDS_BY_QUEUE[queue].join(', ');
    return {
      ok: false,
      reason: 'unknown-kind',
      description: `kind "${envelope.kind}" is not a message of ${queue} (it carries ${carried})`,
      ...known,
    };
  }
  const payload = PAYLOADS[kind].safeParse(envelope.payload);
  if (!payload.success) {
    return { ok: false, reason: 'invalid-payload', description: `${kind}: ${describeIssues(payload.error, 'payload')}`, ...known };
  }
  return { ok: true, message: { ...envelope, kind, payload: payload.data } as PipelineMessage };
}
