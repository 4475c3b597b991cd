import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { checkFileName } from '../domain/blob-layout.js';
import type { SupplierKeyring } from '../domain/supplier-keys.js';
import type { SupplierPolicy } from '../domain/suppliers.js';
import { EVENTS } from '../events.js';
import type { Logger } from '../log.js';
import { openSupplierReport, receiveSupplierFile, type SupplierUploadDeps } from '../services/supplier-upload.js';
import { answer, problem, type JsonAnswer } from './answers.js';

/**
 * The supplier upload API at the edge:
 * `PUT /api/suppliers/{supplierId}/files/{fileName}` (the file as the body, streamed) and
 * `GET /api/suppliers/{supplierId}/files/{fileName}/report`. Anonymous at the Functions level:
 * the supplier's key (`Authorization: Bearer <key>`) is the authentication, and it reaches only
 * that supplier's own files. Checked in this order, each before anything is read or written:
 * the key (401), the supplier (403), the file name (400), a declared size (413). Every refusal
 * is `{error: {code, message}}` and one `upload.refused` event; nothing here logs a key.
 */

export interface SupplierFilesDeps {
  readonly keyring: SupplierKeyring;
  readonly upload: SupplierUploadDeps;
  readonly log: Logger;
}

/** What the handlers read of a request: the shape of @azure/functions' HttpRequest. */
export interface SupplierFileRequest {
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  readonly params: Readonly<Record<string, string | undefined>>;
  readonly body: ReadableStream<Uint8Array> | null;
}

export interface CsvAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readable;
}

type Route = 'file' | 'report';

/** RFC 6750: a 401 names the scheme it wants. */
const CHALLENGE = 'Bearer realm="ztp-supplier-upload"';
const REPORT_CONTENT_TYPE = 'text/csv; charset=utf-8';

export async function putSupplierFile(deps: SupplierFilesDeps, request: SupplierFileRequest): Promise<JsonAnswer> {
  const correlationId = randomUUID();
  const access = authorise(deps, request, 'file', correlationId);
  if (!access.ok) return access.answer;
  const { supplier, fileName, refuse } = access;

  const max = deps.upload.limits.maxFileBytes;
  const tooLarge = (): JsonAnswer =>
    refuse(
      413,
      'file-too-large',
      `The file is larger than ${max} bytes (ZTP_MAX_FILE_BYTES): split it, or ask for the limit to be raised.`,
    );
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > max) return tooLarge();

  try {
    const outcome = await receiveSupplierFile(deps.upload, supplier, fileName, request.body ?? emptyBody());
    if (outcome.kind === 'too-large') return tooLarge();
    if (outcome.kind === 'body-failed') {
      return refuse(400, 'body-incomplete', 'The body ended before the file did; nothing was stored. Send the file again.');
    }
    const { summary } = outcome.validation;
    deps.log.info(
      {
        event: EVENTS.uploadAccepted,
        correlationId,
        supplier: supplier.id,
        fileName,
        batchId: outcome.batchId,
        sizeBytes: outcome.sizeBytes,
        counts: summary,
        ...(outcome.validation.error ? { fileRejection: outcome.validation.error.code } : {}),
      },
      `supplier file received over the upload API: ${supplier.id}/${fileName}`,
    );
    return answer(202, {
      batchId: outcome.batchId,
      supplierId: supplier.id,
      fileName,
      sizeBytes: outcome.sizeBytes,
      sha256: outcome.contentSha256,
      reportUrl: reportUrl(request.url, supplier.id, fileName),
      validation: outcome.validation,
    });
  } catch (error) {
    deps.log.error({ event: EVENTS.uploadError, correlationId, supplier: supplier.id, err: error }, 'supplier upload could not be stored');
    return problem(500, 'internal-error', 'The file could not be stored; nothing was taken in. Send it again.');
  }
}

export async function getSupplierReport(deps: SupplierFilesDeps, request: SupplierFileRequest): Promise<JsonAnswer | CsvAnswer> {
  const correlationId = randomUUID();
  const access = authorise(deps, request, 'report', correlationId);
  if (!access.ok) return access.answer;
  const { supplier, fileName } = access;
  try {
    const report = await openSupplierReport(deps.upload, supplier, fileName);
    if (report === undefined) {
      return problem(
        404,
        'report-not-found',
        'No report for this file yet: the intake writes it once it has read the file, usually within a minute of the upload.',
      );
    }
    return {
      status: 200,
      headers: { 'Content-Type': report.contentType ?? REPORT_CONTENT_TYPE, 'Cache-Control': 'no-store' },
      body: report.body,
    };
  } catch (error) {
    deps.log.error({ event: EVENTS.uploadError, correlationId, supplier: supplier.id, err: error }, 'supplier report could not be read');
    return problem(500, 'internal-error', 'The report could not be read; try again.');
  }
}

type Access =
  | {
      readonly ok: true;
      readonly supplier: SupplierPolicy;
      readonly fileName: string;
      readonly refuse: (status: number, code: string, message: string) => JsonAnswer;
    }
  | { readonly ok: false; readonly answer: JsonAnswer };

function authorise(deps: SupplierFilesDeps, request: SupplierFileRequest, route: Route, correlationId: string): Access {
  // Route values are the caller's words: logged bounded, and only ever as data.
  const routeSupplier = (request.params.supplierId ?? '').slice(0, 64);
  const refuse = (status: number, code: string, message: string, fields: Record<string, unknown> = {}): JsonAnswer => {
    deps.log.info(
      { event: EVENTS.uploadRefused, correlationId, route, status, code, supplier: routeSupplier, ...fields },
      `supplier upload API request refused: ${code}`,
    );
    const refusal = problem(status, code, message);
    return status === 401 ? { ...refusal, headers: { ...refusal.headers, 'WWW-Authenticate': CHALLENGE } } : refusal;
  };

  const presented = bearerToken(request.headers.get('authorization'));
  if (presented === undefined) {
    return { ok: false, answer: refuse(401, 'missing-key', "Send the supplier's upload key as the header Authorization: Bearer <key>.") };
  }
  const supplier = deps.keyring.supplierOf(presented);
  if (supplier === undefined) {
    return { ok: false, answer: refuse(401, 'invalid-key', 'This upload key is not valid: check it, or ask for a new one.') };
  }
  if (supplier.id !== request.params.supplierId) {
    return {
      ok: false,
      answer: refuse(403, 'other-supplier', "This key reaches only its own supplier's files: use your own supplier id in the path.", {
        keySupplier: supplier.id,
      }),
    };
  }
  const name = checkFileName(request.params.fileName ?? '');
  if (!name.ok) {
    return {
      ok: false,
      answer: refuse(400, 'invalid-file-name', `The file name ${name.problem}: give a plain file name such as delivery-2024-05.csv.`),
    };
  }
  return { ok: true, supplier, fileName: name.fileName, refuse };
}

/** `Bearer <token>`, the scheme case-insensitive (RFC 7235); anything else is no key at all. */
function bearerToken(header: string | null): string | undefined {
  const match = /^bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}

function reportUrl(requestUrl: string, supplierId: string, fileName: string): string {
  const origin = new URL(requestUrl).origin;
  return `${origin}/api/suppliers/${encodeURIComponent(supplierId)}/files/${encodeURIComponent(fileName)}/report`;
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}
