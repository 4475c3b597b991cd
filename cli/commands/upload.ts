import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { BlobStore } from '../../shared/adapters/blobs/blob-store.js';
import { batchIdOf } from '../../shared/domain/batch.js';
import { checkFileName, INTAKE_CONTAINER, RESULTS_CONTAINER, reportBlobName } from '../../shared/domain/blob-layout.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_ERROR, EXIT_OK, printable, UsageError, type ZtpIo } from '../io.js';
import { connect, resolveStorage } from '../storage.js';

/**
 * `ztp upload <file> --supplier <id> [--name <blob file name>]`: drops a hash file into the
 * supplier's intake folder, exactly where a supplier's own upload would land, so the intake
 * function picks it up. Exit 0 when uploaded, 2 otherwise.
 */

export const UPLOAD_USAGE = 'Usage: ztp upload <file> --supplier <id> [--name <blob file name>]\n';

/** The supplier policy's rule: the id names a blob folder. */
const SUPPLIER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface UploadResult {
  readonly container: string;
  readonly blobName: string;
  readonly sizeBytes: number;
  readonly batchId: string;
  readonly reportBlob: string;
}

export async function runUpload(argv: string[], io: ZtpIo): Promise<number> {
  return runCommand('upload', UPLOAD_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { supplier: { type: 'string' }, name: { type: 'string' } });
    if (wantsHelp(values, UPLOAD_USAGE, io)) return EXIT_OK;
    const file = onePositional(positionals, 'file');
    const supplierId = checkSupplierId(values.supplier);
    const fileName = fileNameOf(values.name ?? basename(file));

    let bytes: Buffer;
    try {
      bytes = await readFile(resolve(io.cwd, file));
    } catch (error) {
      io.stderr(`ztp upload: cannot read ${printable(file)}: ${describeReadError(error)}\n`);
      return EXIT_ERROR;
    }

    const storage = await resolveStorage(io);
    const blobName = `${supplierId}/${fileName}`;
    await connect(storage, (connectionString) => BlobStore.fromConnectionString(connectionString)).writeBytes(
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
