import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { z } from 'zod';
import { BlobStore } from '../../shared/adapters/blobs/blob-store.js';
import { batchIdOf } from '../../shared/domain/batch.js';
import { checkFileName, INTAKE_CONTAINER, RESULTS_CONTAINER, reportBlobName } from '../../shared/domain/blob-layout.js';
import { describeFetchError, NotSentError, parseAnswer, resolveTarget } from '../app-api.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_ERROR, EXIT_OK, printable, UsageError, type ZtpIo } from '../io.js';
import { connect, resolveStorage } from '../storage.js';
import { validationExitCode, validationText } from '../validation-text.js';

/**
 * `ztp upload <file> --supplier <id> [--name <blob file name>]`: drops a hash file into the
 * supplier's intake folder, exactly where a supplier's own upload would land, so the intake
 * function picks it up (for suppliers given storage access). Exit 0 when uploaded, 2 otherwise.
 *
 * `ztp upload <file> --supplier <id> --url <origin> [--key <key>]`: sends it to the app's
 * supplier upload API instead, streamed, with the supplier's key; prints the batch id and the
 * validation the intake applies. Exit codes as `ztp validate` for the file the app took (0
 * every row accepted, 1 some rejected, 2 the whole file rejected), and 2 when the app did not
 * take it (refused, or no answer): 1 always means "uploaded, fix the rejected rows".
 */

export const UPLOAD_USAGE = `Usage: ztp upload <file> --supplier <id> [--name <blob file name>]
       ztp upload <file> --supplier <id> --url <origin> [--key <key>] [--name <file name>] [--json]

Without --url: puts the file into hash-uploads/<supplier>/<name> in the storage account
(AzureWebJobsStorage, else the running local stack's), for suppliers given storage access.
With --url: sends it to the app's supplier upload API, PUT <origin>/api/suppliers/<supplier>/files/<name>,
with the supplier's upload key (--key, else ZTP_SUPPLIER_KEY, else, for the local stack, the key it
publishes), and prints the batch id, where the report will be, and the validation the intake applies.

  --name  the file name to store it under (default: the file's own name)
  --json  with --url: print {"status", "body"} as one line of JSON

Exit 0 uploaded (with --url: every row accepted); 1 with --url: uploaded, some rows rejected;
2 usage errors, a file that cannot be read, no storage or a storage error, and with --url: the
whole file rejected, the upload refused (401, 403, 413, ...) or no answer (sending again is safe).
`;

/** The supplier policy's rule: the id names a blob folder. */
const SUPPLIER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A minute, plus a second for every 100 KB: slow links still get their answer. */
const timeoutFor = (sizeBytes: number): number => 60_000 + Math.ceil(sizeBytes / 100);

export interface UploadResult {
  readonly container: string;
  readonly blobName: string;
  readonly sizeBytes: number;
  readonly batchId: string;
  readonly reportBlob: string;
}

/** What the upload API answers with 202, read as untrusted input. */
const acceptedSchema = z.looseObject({
  batchId: z.string(),
  reportUrl: z.string(),
  sizeBytes: z.number(),
  validation: z.looseObject({
    format: z.enum(['intune', 'oem']).nullable(),
    encoding: z.enum(['utf-8', 'utf-8-bom', 'utf-16le', 'utf-16be', 'windows-1252']).nullable(),
    rows: z.array(
      z.object({
        line: z.number(),
        serialNumber: z.string().nullable(),
        status: z.enum(['accepted', 'rejected']),
        errors: z.array(z.object({ code: z.string(), message: z.string() })),
        warnings: z.array(z.object({ code: z.string(), message: z.string() })),
      }),
    ),
    summary: z.object({ total: z.number(), accepted: z.number(), rejected: z.number() }),
    error: z.object({ code: z.string(), message: z.string(), line: z.number().nullable() }).optional(),
  }),
});

export async function runUpload(argv: string[], io: ZtpIo): Promise<number> {
  return runCommand('upload', UPLOAD_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, {
      supplier: { type: 'string' },
      name: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (wantsHelp(values, UPLOAD_USAGE, io)) return EXIT_OK;
    const file = onePositional(positionals, 'file');
    const supplierId = checkSupplierId(values.supplier);
    const fileName = fileNameOf(values.name ?? basename(file));
    if (values.url !== undefined) {
      return uploadOverApi(io, { file, supplierId, fileName, url: values.url, key: values.key, json: values.json === true });
    }
    if (values.key !== undefined) throw new UsageError('--key goes with --url: a file put into storage needs no upload key');
    if (values.json === true) throw new UsageError('--json goes with --url');

    let bytes: Buffer;
    try {
      bytes = await readFile(resolve(io.cwd, file));
    } catch (error) {
      io.stderr(`ztp upload: cannot read ${printable(file)}: ${describeReadError(error)}\n`);
      return EXIT_ERROR;
    }

    const storage = await resolveStorage(io);
    const blobName = `${supplierId}/${fileName}`;
    await connect(storage, (connectionString) => BlobStore.connect(connectionString)).writeBytes(
      INTAKE_CONTAINER,
      blobName,
      bytes,
      'text/csv',
    );

    const result: UploadResult = {
      container: INTAKE_CONTAINER,
      blobName,
      sizeBytes: bytes.length,
      // The intake names a batch after its supplier and the file's content.
      batchId: batchIdOf(supplierId, createHash('sha256').update(bytes).digest('hex')),
      reportBlob: reportBlobName(supplierId, fileName),
    };
    io.stdout(
      [
        `Uploaded ${printable(file)} (${result.sizeBytes.toLocaleString('en-US')} bytes) to ${INTAKE_CONTAINER}/${printable(blobName)} in ${storage.description}.`,
        `Batch:  ${result.batchId}  (follow it with: ztp batch ${result.batchId})`,
        `Report: ${RESULTS_CONTAINER}/${printable(result.reportBlob)}  (written once the intake has read the file)`,
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  });
}

interface ApiUpload {
  readonly file: string;
  readonly supplierId: string;
  readonly fileName: string;
  readonly url: string;
  readonly key: string | undefined;
  readonly json: boolean;
}

async function uploadOverApi(io: ZtpIo, upload: ApiUpload): Promise<number> {
  const path = resolve(io.cwd, upload.file);
  let sizeBytes: number;
  try {
    const found = await stat(path);
    if (found.isDirectory()) {
      io.stderr(`ztp upload: cannot read ${printable(upload.file)}: it is a folder, not a file\n`);
      return EXIT_ERROR;
    }
    sizeBytes = found.size;
  } catch (error) {
    io.stderr(`ztp upload: cannot read ${printable(upload.file)}: ${describeReadError(error)}\n`);
    return EXIT_ERROR;
  }

  const target = await resolveTarget(upload.url, io);
  const published = target.stack?.isTarget === true ? target.stack.endpoints.supplierKeys?.[upload.supplierId] : undefined;
  const key = upload.key?.trim() || io.env.ZTP_SUPPLIER_KEY?.trim() || published;
  if (!key) {
    throw new UsageError(
      `no upload key for supplier ${upload.supplierId}: pass --key <key>, or set ZTP_SUPPLIER_KEY, with the key you were given`,
    );
  }
  const url = `${target.apiBaseUrl}/suppliers/${encodeURIComponent(upload.supplierId)}/files/${encodeURIComponent(upload.fileName)}`;
  const timeoutMs = timeoutFor(sizeBytes);
  let status: number;
  let text: string;
  try {
    const response = await fetch(url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv', 'content-length': String(sizeBytes) },
      // Streamed from the disk: a file of hundreds of MB is never read into memory here either.
      body: createReadStream(path),
      duplex: 'half',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    } as RequestInit);
    status = response.status;
    text = await response.text();
  } catch (error) {
    throw new NotSentError(
      `no answer from ${printable(url)} (${describeFetchError(error, timeoutMs)})${target.hint}; sending the file again is safe`,
    );
  }

  const body = parseAnswer(text);
  if (upload.json) {
    io.stdout(`${JSON.stringify({ status, body })}\n`);
    const accepted = status === 202 ? acceptedSchema.safeParse(body) : undefined;
    return accepted?.success === true ? validationExitCode(accepted.data.validation) : EXIT_ERROR;
  }
  if (status !== 202) {
    const lines = [`${status} from PUT ${printable(url)}: the file was not taken`];
    if (body !== null) lines.push(typeof body === 'string' ? printable(body) : JSON.stringify(body, null, 2));
    io.stdout(`${lines.join('\n')}\n`);
    return EXIT_ERROR;
  }
  const accepted = acceptedSchema.safeParse(body);
  if (!accepted.success)
    throw new NotSentError(`the answer from ${printable(url)} is not an upload answer: ${printable(text.slice(0, 200))}`);
  const { batchId, reportUrl, validation } = accepted.data;
  io.stdout(
    [
      `Uploaded ${printable(upload.file)} (${accepted.data.sizeBytes.toLocaleString('en-US')} bytes) as ${printable(upload.supplierId)}/${printable(upload.fileName)} to ${printable(target.apiBaseUrl)}.`,
      `Batch:  ${printable(batchId)}`,
      `Report: ${printable(reportUrl)}  (written once the intake has read the file; GET it with the same key)`,
      '',
      validationText(upload.file, validation),
    ].join('\n'),
  );
  return validationExitCode(validation);
}

function checkSupplierId(value: string | undefined): string {
  if (value === undefined) throw new UsageError('--supplier <id> is required: the supplier folder the file goes into');
  if (!SUPPLIER_ID.test(value)) {
    throw new UsageError(
      `"${printable(value)}" is not a supplier id: 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return value;
}

/** One file name, by the rule the upload API applies: the intake reads everything after the supplier folder as the file name. */
function fileNameOf(value: string): string {
  const checked = checkFileName(value.trim());
  if (!checked.ok) {
    throw new UsageError(`"${printable(value)}" cannot be a blob file name: it ${checked.problem}; give a plain file name (no folders)`);
  }
  return checked.fileName;
}

function describeReadError(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a folder, not a file';
    case 'EACCES':
      return 'permission denied';
    default:
      return (error as Error).message;
  }
}
