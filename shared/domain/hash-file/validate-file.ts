import { CsvRecordSplitter } from './csv-records.js';
import type { CsvEvent } from './csv-records.js';
import { decodeHashFileBytes } from './encoding.js';
import type { DecodeState } from './encoding.js';
import { isHeaderRejection, isPreambleLine, readHeader } from './header.js';
import type { HashFileHeader } from './header.js';
import { validateRow } from './validate-row.js';
import type { FileOutcome, FileRejection, HashFileLimits, HashFileOptions, ValidatedRow } from './types.js';

/** Sized for fleet deliveries: 50,000 rows of ~4 KB hashes is ~210 MB, twice that in UTF-16. */
export const DEFAULT_HASH_FILE_LIMITS: Readonly<HashFileLimits> = { maxBytes: 512 * 1024 * 1024, maxRows: 50_000 };

/** A row is one device: anything longer is a never-closed quote or not a CSV text at all. */
export const MAX_RECORD_CHARS = 1024 * 1024;

export interface HashFileValidation {
  /** Rows in file order, one per non-blank data line. Iterate once. */
  rows: AsyncIterable<ValidatedRow>;
  /**
   * Settles once `rows` has been iterated to its end (or the iteration stopped), so iterate
   * `rows` before awaiting it. When it
   * carries `rejected`, the file is rejected as a whole and every row already yielded must
   * be discarded: nothing recorded as accepted, nothing queued.
   */
  outcome: Promise<FileOutcome>;
}

/**
 * Streams a hash file: decodes, splits, validates and yields rows one at a time, so memory
 * stays bounded whatever the size (the duplicate check keeps one key per row, capped by
 * maxRows). Never throws because of the file's content: unreadable input becomes the
 * `unreadable-file` rejection or row errors. Errors of the source itself (a failed blob
 * download) propagate from `rows` and reject `outcome`.
 *
 * Whole-file rejections (`file-too-large`, `too-many-rows`, `unreadable-file`,
 * `too-many-columns` for unknown header columns) are decided while streaming, so they can
 * arrive after rows were yielded. Reading stops at the first such finding. A consumer with
 * side effects therefore reads the file twice: a first pass to the outcome, acting on
 * nothing, then a second pass acting on the rows (the blob can be read again, and the
 * validation is deterministic) — or it acts in one pass and undoes on rejection.
 */
export function validateHashFile(source: AsyncIterable<Uint8Array>, options: HashFileOptions): HashFileValidation {
  let settle!: (outcome: FileOutcome) => void;
  let fail!: (error: unknown) => void;
  const outcome = new Promise<FileOutcome>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // A consumer that only iterates rows must not get an unhandled rejection.
  outcome.catch(() => undefined);

  async function* rows(): AsyncGenerator<ValidatedRow, void, undefined> {
    const run = new FileRun(options);
    try {
      yield* run.rows(source);
      settle(run.outcome());
    } catch (error) {
      fail(error);
      throw error;
    } finally {
      settle(run.outcome()); // no effect once settled; covers a consumer that stopped early
    }
  }
  return { rows: rows(), outcome };
}

/** Reads a whole file into memory: for the CLI and tests, not for the intake. */
export async function collectHashFile(
  source: AsyncIterable<Uint8Array>,
  options: HashFileOptions,
): Promise<{ rows: ValidatedRow[]; outcome: FileOutcome }> {
  const validation = validateHashFile(source, options);
  const rows: ValidatedRow[] = [];
  for await (const row of validation.rows) rows.push(row);
  return { rows, outcome: await validation.outcome };
}

class FileRun {
  private readonly decode: DecodeState = { encoding: undefined, bytesRead: 0, tooLarge: false, leadingBytes: new Uint8Array(0) };
  private readonly splitter = new CsvRecordSplitter(MAX_RECORD_CHARS);
  private readonly seenSerials = new Set<string>();
  private header: HashFileHeader | undefined;
  private rejected: FileRejection | undefined;
  private total = 0;
  private accepted = 0;

  constructor(private readonly options: HashFileOptions) {}

  async *rows(source: AsyncIterable<Uint8Array>): AsyncGenerator<ValidatedRow, void, undefined> {
    for await (const text of decodeHashFileBytes(source, this.options.maxBytes, this.decode)) {
      yield* this.handle(this.splitter.push(text));
      if (this.rejected !== undefined) return;
    }
    if (this.decode.tooLarge) {
      this.rejected = {
        code: 'file-too-large',
        message: `The file is larger than ${this.options.maxBytes.toLocaleString('en-GB')} bytes.`,
      };
      return;
    }
    yield* this.handle(this.splitter.end());
    if (this.rejected === undefined && this.header === undefined) {
      this.rejected = { code: 'unreadable-file', message: this.emptyFileMessage() };
    }
  }

  outcome(): FileOutcome {
    const outcome: FileOutcome = {
      counts: { total: this.total, accepted: this.accepted, rejected: this.total - this.accepted },
      bytesRead: this.decode.bytesRead,
    };
    if (this.header !== undefined) outcome.format = this.header.format;
    if (this.decode.encoding !== undefined) outcome.encoding = this.decode.encoding;
    if (this.rejected !== undefined) outcome.rejected = this.rejected;
    return outcome;
  }

  private *handle(events: CsvEvent[]): Generator<ValidatedRow, void, undefined> {
    for (const event of events) {
      if (event.kind === 'error') {
        this.rejected = { code: 'unreadable-file', line: event.line, message: event.message };
        return;
      }
      const { fields, line } = event;
      if (isBlank(fields)) continue;
      if (this.header === undefined) {
        if (isPreambleLine(fields)) continue;
        const header = readHeader(fields, line);
        if (isHeaderRejection(header)) {
          this.rejected = this.looksBinary() ? { code: 'unreadable-file', line, message: this.binaryMessage() } : header;
          return;
        }
        this.header = header;
        continue;
      }
      if (this.total === this.options.maxRows) {
        this.rejected = {
          code: 'too-many-rows',
          line,
          message: `The file has more than ${this.options.maxRows.toLocaleString('en-GB')} rows.`,
        };
        return;
      }
      this.total += 1;
      const row = validateRow(fields, line, { header: this.header, supplier: this.options.supplier, seenSerials: this.seenSerials });
      if (row.status === 'accepted') this.accepted += 1;
      yield row;
    }
  }

  private looksBinary(): boolean {
    const bytes = this.decode.leadingBytes;
    const singleByteText = this.decode.encoding === 'utf-8' || this.decode.encoding === 'windows-1252';
    return isWorkbook(bytes) || (singleByteText && bytes.includes(0));
  }

  private binaryMessage(): string {
    return isWorkbook(this.decode.leadingBytes)
      ? 'The file is an Excel workbook (or another zip archive), not CSV text. In Excel use Save As > CSV UTF-8.'
      : 'The file is not a CSV text file.';
  }

  private emptyFileMessage(): string {
    return this.decode.bytesRead === 0 ? 'The file is empty.' : 'The file has no header line: it holds only blank lines.';
  }
}

function isBlank(fields: readonly string[]): boolean {
  for (const field of fields) if (field !== '') return false;
  return true;
}

function isWorkbook(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}
