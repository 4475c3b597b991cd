import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { batchIdOf } from '../domain/batch.js';
import { INTAKE_CONTAINER, reportBlobName, RESULTS_CONTAINER } from '../domain/blob-layout.js';
import { summaryRow, validateHashFile, validationSummary, type SummaryRow, type ValidationSummary } from '../domain/hash-file/index.js';
import type { SupplierPolicy } from '../domain/suppliers.js';
import type { BlobStreams, OpenedBlob } from './ports.js';

/**
 * A supplier file arriving over the upload API: one pass over the body, as it arrives, that
 * writes it to `hash-uploads/{supplier}/{fileName}` (where a blob drop lands, so the blob
 * trigger runs the one intake), hashes it for its batch id, and validates it with the
 * intake's own rules and limits for the answer. Nothing holds the file: each chunk goes on to
 * the blob and to the validation, and the next is read only once both have taken it.
 * A body past `maxFileBytes` stops the write before anything is committed.
 */

export interface SupplierUploadDeps {
  readonly blobs: BlobStreams;
  /** The intake's limits, so the answer's validation is the one the intake applies. */
  readonly limits: { readonly maxFileBytes: number; readonly maxRows: number };
}

export type UploadOutcome =
  | {
      readonly kind: 'accepted';
      readonly batchId: string;
      readonly blobName: string;
      readonly sizeBytes: number;
      readonly contentSha256: string;
      readonly validation: ValidationSummary;
    }
  | { readonly kind: 'too-large'; readonly receivedBytes: number }
  /** The body ended early (the client went away, or its connection broke): nothing was written. */
  | { readonly kind: 'body-failed'; readonly receivedBytes: number };

const CONTENT_TYPE = 'text/csv';
/** What each branch may hold before the reading waits for it. */
const BRANCH_BUFFER_BYTES = 1024 * 1024;

export async function receiveSupplierFile(
  deps: SupplierUploadDeps,
  supplier: SupplierPolicy,
  fileName: string,
  body: AsyncIterable<Uint8Array>,
): Promise<UploadOutcome> {
  const blobName = `${supplier.id}/${fileName}`;
  const toBlob = new PassThrough({ highWaterMark: BRANCH_BUFFER_BYTES });
  const toValidation = new PassThrough({ highWaterMark: BRANCH_BUFFER_BYTES });
  // Destroying a branch with an error is how it is stopped; the error is reported where it is awaited.
  toBlob.on('error', () => undefined);
  toValidation.on('error', () => undefined);
  const abort = new AbortController();

  const written = deps.blobs.writeStream(INTAKE_CONTAINER, blobName, toBlob, { contentType: CONTENT_TYPE, abortSignal: abort.signal });
  const rows: SummaryRow[] = [];
  const validation = validateHashFile(toValidation, { supplier, maxBytes: deps.limits.maxFileBytes, maxRows: deps.limits.maxRows });
  const validated = (async () => {
    for await (const row of validation.rows) rows.push(summaryRow(row));
    return validation.outcome;
  })();
  // A failed write must not leave the reading waiting for a branch nobody drains any more.
  let storageFailed = false;
  const writeFailed = new Promise<never>(
    (_, reject) =>
      void written.catch((error: unknown) => {
        storageFailed = true;
        reject(error);
      }),
  );
  writeFailed.catch(() => undefined);
  validated.catch(() => undefined);

  const stop = async (): Promise<void> => {
    abort.abort();
    toBlob.destroy(new Error('the upload was stopped'));
    toValidation.destroy(new Error('the upload was stopped'));
    await Promise.allSettled([written, validated]);
  };

  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > deps.limits.maxFileBytes) {
        await stop();
        return { kind: 'too-large', receivedBytes: size };
      }
      hash.update(chunk);
      await Promise.race([Promise.all([feed(toBlob, chunk), feed(toValidation, chunk)]), writeFailed]);
    }
  } catch (error) {
    // Decided before stopping, which fails the write on purpose: a storage fault, or the client's body.
    const storageFault = storageFailed;
    await stop();
    if (storageFault) throw error;
    return { kind: 'body-failed', receivedBytes: size };
  }
  toBlob.end();
  if (!toValidation.destroyed) toValidation.end();
  await written;
  const outcome = await validated;

  const contentSha256 = hash.digest('hex');
  return {
    kind: 'accepted',
    batchId: batchIdOf(supplier.id, contentSha256),
    blobName,
    sizeBytes: size,
    contentSha256,
    validation: validationSummary(outcome, rows),
  };
}

/** The file's current report, as a stream; undefined while the intake has not written one. */
export function openSupplierReport(
  deps: Pick<SupplierUploadDeps, 'blobs'>,
  supplier: SupplierPolicy,
  fileName: string,
): Promise<OpenedBlob | undefined> {
  return deps.blobs.openIfPresent(RESULTS_CONTAINER, reportBlobName(supplier.id, fileName));
}

/**
 * Hands one chunk to a branch, waiting while the branch is full. A branch that stopped reading
 * (the validation ends early on a file rejected as a whole) takes nothing more: the rest of
 * the file still goes to the blob.
 */
async function feed(branch: PassThrough, chunk: Uint8Array): Promise<void> {
  if (branch.destroyed || branch.writableEnded) return;
  if (branch.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      branch.off('drain', done);
      branch.off('close', done);
      resolve();
    };
    branch.on('drain', done);
    branch.on('close', done);
  });
}
