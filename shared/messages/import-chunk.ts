import { createHash } from 'node:crypto';
import { z } from 'zod';
import { serialKey } from '../domain/device.js';
import type { OutgoingMessage } from './envelope.js';
import { QUEUES } from './queues.js';

/**
 * `import-chunk` on `ztp-import`: received devices to submit to Autopilot. Four kinds of
 * sender queue them, each with its own deterministic id, so repeated work is dropped by the
 * queue's duplicate detection.
 */

export const IMPORT_CHUNK = 'import-chunk';

const source = z.discriminatedUnion('kind', [
  /** A chunk of a supplier file, in file order. */
  z.object({ kind: z.literal('file'), batchId: z.string().min(1), chunk: z.number().int().nonnegative() }),
  /** Received devices the sweeper found that no import message picked up. */
  z.object({ kind: z.literal('sweeper') }),
  /** Devices the import poll found lost or asked to retry (StorageError). */
  z.object({ kind: z.literal('resubmit'), pollAt: z.string().min(1) }),
  /** Stalled devices a re-drive found Autopilot never saw, sent back to `received`. */
  z.object({ kind: z.literal('redrive') }),
]);

/**
 * Chunks queued before payloads named their source carried a `batchId` (`'sweeper'` and
 * `'resubmit'` for the two kinds that had no file) and a `chunk`: read as the source they meant,
 * so work in flight across an upgrade is not set aside.
 */
function fromEarlierShape(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || 'source' in value || !('batchId' in value)) return value;
  const { batchId, chunk, ...rest } = value as { batchId: unknown; chunk?: unknown };
  const earlier =
    batchId === 'sweeper'
      ? { kind: 'sweeper' }
      : batchId === 'resubmit'
        ? { kind: 'resubmit', pollAt: 'unknown' }
        : { kind: 'file', batchId, chunk };
  return { ...rest, source: earlier };
}

const currentShape = z.object({
  source,
  serialNumbers: z.array(z.string().min(1)).min(1).max(1000),
  /**
   * Claims (serial -> import id) known never to have reached Autopilot: those a rescheduled
   * copy's call was refused or never sent, and those the import poll found no record of past
   * the claim grace. A device still holding its claim is submitted under it at once, with no
   * listing. Earlier copies named their claims `claims`, which may have reached Autopilot:
   * that field is dropped, and the import poll reconciles those devices.
   */
  unsent: z.record(z.string(), z.string()).optional(),
});

export const importChunkPayloadSchema = z.preprocess(fromEarlierShape, currentShape);

export type ImportChunkPayload = z.infer<typeof currentShape>;
export type ImportChunkSource = ImportChunkPayload['source'];
export type ImportChunkMessage = OutgoingMessage<typeof IMPORT_CHUNK, ImportChunkPayload>;

export const importChunkQueue = QUEUES.import;

function message(messageId: string, correlationId: string, payload: ImportChunkPayload): ImportChunkMessage {
  return { kind: IMPORT_CHUNK, correlationId, messageId, payload };
}

/** Chunk `chunk` of a file: a re-run of the intake or a redelivered trigger queues the same ids. */
export function fileChunkMessage(
  batchId: string,
  chunk: number,
  serialNumbers: readonly string[],
  correlationId: string,
): ImportChunkMessage {
  return message(`import:${batchId}:${chunk}`, correlationId, {
    source: { kind: 'file', batchId, chunk },
    serialNumbers: [...serialNumbers],
  });
}

/** Same devices and generations, same id: overlapping sweeper runs and repeats within the window are dropped. */
export function requeueMessage(
  devices: readonly { serialNumber: string; generation: number }[],
  correlationId: string,
): ImportChunkMessage {
  const members = devices.map((device) => `${serialKey(device.serialNumber)}:${device.generation}`).sort();
  const id = `sweep:${createHash('sha256').update(members.join('\n')).digest('hex').slice(0, 40)}`;
  return message(id, correlationId, { source: { kind: 'sweeper' }, serialNumbers: devices.map((device) => device.serialNumber) });
}

/**
 * Devices one re-drive sent back to `received`, each with the history sequence of that
 * transition: a retry of the same re-drive sends the same id, a later re-drive a new one.
 */
export function redriveImportMessage(
  devices: readonly { serialNumber: string; sequence: number }[],
  correlationId: string,
): ImportChunkMessage {
  const members = devices.map((device) => `${serialKey(device.serialNumber)}:${device.sequence}`).sort();
  const id = `redrive:${createHash('sha256').update(members.join('\n')).digest('hex').slice(0, 40)}`;
  // In serial order, whatever order the re-drive finished them in: the same work reads the same.
  const serialNumbers = devices.map((device) => device.serialNumber).sort((a, b) => serialKey(a).localeCompare(serialKey(b)));
  return message(id, correlationId, { source: { kind: 'redrive' }, serialNumbers });
}

/**
 * Claims one import-poll run sends back (serial -> import id Autopilot has no record of),
 * `start` being the first one's index: a redelivered run sends the same ids.
 */
export function resubmitMessage(
  pollAt: string,
  start: number,
  unsent: Readonly<Record<string, string>>,
  correlationId: string,
): ImportChunkMessage {
  return message(`resubmit:${pollAt}:${start}`, correlationId, {
    source: { kind: 'resubmit', pollAt },
    serialNumbers: Object.keys(unsent),
    unsent: { ...unsent },
  });
}

/** For log lines: where a chunk came from. */
export function describeSource(source: ImportChunkSource): Record<string, string | number> {
  switch (source.kind) {
    case 'file':
      return { source: 'file', batchId: source.batchId, chunk: source.chunk };
    case 'resubmit':
      return { source: 'resubmit', pollAt: source.pollAt };
    case 'sweeper':
      return { source: 'sweeper' };
    case 'redrive':
      return { source: 'redrive' };
  }
}
