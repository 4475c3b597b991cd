import { parse as parseCsv, CsvError } from 'csv-parse/sync';
import type { Options as CsvParseOptions } from 'csv-parse/sync';

/**
 * Splits decoded text into CSV records, each tagged with the physical line it starts on.
 *
 * csv-parse is the authority on CSV syntax, but it walks every byte and manages about
 * 8,000 rows/s on rows carrying 4 KB hashes. So lines whose meaning cannot be in doubt
 * take a fast path: a line without any double quote (the Intune portal format, Out-File
 * output) splits on commas, and a line whose quoted fields hold no quote and nothing
 * around their quotes (Export-Csv, Excel) is cut at the quotes and commas. Any other line
 * (doubled quotes, fields spanning lines, stray quotes, spaces around quotes) is handed to
 * csv-parse together with the lines that complete its record. A differential property
 * test holds both paths to csv-parse's streaming results.
 *
 * Line terminators are CRLF, LF or a lone CR. Every field is trimmed. Blank lines come out
 * as records of one empty field; the caller decides what they mean.
 */

export type CsvEvent = { kind: 'record'; line: number; fields: string[] } | { kind: 'error'; line: number; message: string };

export const CSV_PARSE_OPTIONS = {
  info: true,
  relax_quotes: true,
  relax_column_count: true,
  trim: true,
  skip_empty_lines: false,
  record_delimiter: ['\r\n', '\n', '\r'],
} as const satisfies CsvParseOptions;

const QUOTE = '"';
const QUOTE_CODE = 34;
const COMMA_CODE = 44;

interface ParsedRecord {
  record: string[];
  /** `bytes`: input consumed up to the end of this record, its terminator included. */
  info: { bytes: number };
}
const LF = 10;
const CR = 13;

export class CsvRecordSplitter {
  private carry = '';
  private linesSeen = 0;
  /** Raw text (terminators included) of a record csv-parse has to read. */
  private pending = '';
  private pendingStartLine = 0;
  private pendingQuotes = 0;
  private failed = false;

  constructor(private readonly maxRecordChars: number) {}

  push(text: string): CsvEvent[] {
    const events: CsvEvent[] = [];
    if (!this.failed) this.splitLines(this.carry + text, false, events);
    return events;
  }

  end(): CsvEvent[] {
    const events: CsvEvent[] = [];
    if (this.failed) return events;
    this.splitLines(this.carry, true, events);
    if (!this.failed && this.carry !== '') this.acceptLine(this.carry, 0, this.carry.length, this.carry.length, events);
    this.carry = '';
    if (!this.failed && this.pending !== '') this.flushPending(events, true);
    return events;
  }

  private splitLines(buffer: string, atEnd: boolean, events: CsvEvent[]): void {
    let position = 0;
    let nextLf = buffer.indexOf('\n');
    let nextCr = buffer.indexOf('\r');
    while (!this.failed) {
      // Re-search only when passed: keeps LF-only files from rescanning for CR on every line.
      if (nextLf !== -1 && nextLf < position) nextLf = buffer.indexOf('\n', position);
      if (nextCr !== -1 && nextCr < position) nextCr = buffer.indexOf('\r', position);
      let contentEnd: number;
      let lineEnd: number;
      if (nextCr !== -1 && (nextLf === -1 || nextCr < nextLf)) {
        if (nextCr === buffer.length - 1 && !atEnd) break; // CR or CRLF: decided by the next chunk
        contentEnd = nextCr;
        lineEnd = buffer.charCodeAt(nextCr + 1) === LF ? nextCr + 2 : nextCr + 1;
      } else if (nextLf !== -1) {
        contentEnd = nextLf;
        lineEnd = nextLf + 1;
      } else {
        break;
      }
      this.acceptLine(buffer, position, contentEnd, lineEnd, events);
      position = lineEnd;
    }
    this.carry = this.failed ? '' : buffer.slice(position);
    if (!this.failed && this.carry.length + this.pending.length > this.maxRecordChars) {
      this.fail(events, this.pending === '' ? this.linesSeen + 1 : this.pendingStartLine, tooLongMessage(this.maxRecordChars));
    }
  }

  private acceptLine(buffer: string, start: number, contentEnd: number, lineEnd: number, events: CsvEvent[]): void {
    this.linesSeen += 1;
    if (this.pending === '') {
      const fields = splitUnambiguousLine(buffer.slice(start, contentEnd));
      if (fields !== undefined) {
        events.push({ kind: 'record', line: this.linesSeen, fields });
        return;
      }
      this.pendingStartLine = this.linesSeen;
      this.pendingQuotes = 0;
    }
    this.pending += buffer.slice(start, lineEnd);
    this.pendingQuotes += countQuotes(buffer, start, contentEnd);
    // An even quote count is where an RFC 4180 record can end; a record too long to be a row is judged now.
    if (this.pendingQuotes % 2 === 0 || this.pending.length > this.maxRecordChars) this.flushPending(events, false);
  }

  private flushPending(events: CsvEvent[], atEnd: boolean): void {
    // Parsed as bytes so that csv-parse's byte offsets locate each record: its own line
    // count treats a CRLF inside quotes as two lines.
    const bytes = Buffer.from(this.pending, 'utf8');
    let parsed: ParsedRecord[];
    try {
      parsed = parseCsv(bytes, CSV_PARSE_OPTIONS) as unknown as ParsedRecord[];
    } catch (error) {
      const unclosed = error instanceof CsvError && error.code === 'CSV_QUOTE_NOT_CLOSED';
      if (unclosed && !atEnd && this.pending.length <= this.maxRecordChars) return; // the record continues on the next line
      const message = unclosed
        ? this.pending.length > this.maxRecordChars
          ? tooLongMessage(this.maxRecordChars)
          : `A quoted value starting on line ${this.pendingStartLine} is never closed.`
        : `Line ${this.pendingStartLine} cannot be read as CSV: ${error instanceof Error ? error.message : String(error)}`;
      this.fail(events, this.pendingStartLine, message);
      return;
    }
    let line = this.pendingStartLine;
    let consumed = 0;
    for (const { record, info } of parsed) {
      events.push({ kind: 'record', line, fields: record.map((field) => field.trim()) });
      line += countLineBreaks(bytes, consumed, info.bytes);
      consumed = info.bytes;
    }
    this.pending = '';
  }

  private fail(events: CsvEvent[], line: number, message: string): void {
    this.failed = true;
    this.pending = '';
    this.carry = '';
    events.push({ kind: 'error', line, message });
  }
}

function tooLongMessage(maxRecordChars: number): string {
  return `A row is longer than ${maxRecordChars} characters; a quote is probably never closed, or this is not a CSV text file.`;
}

/**
 * Fields of a line whose CSV meaning is beyond doubt, or undefined when csv-parse must
 * decide: every field is either unquoted without any quote in it, or quoted from its first
 * to its last character with no quote inside (no "" escapes, nothing around the quotes).
 */
function splitUnambiguousLine(content: string): string[] | undefined {
  if (content.indexOf(QUOTE) === -1) return trimAll(content.split(','));
  const fields: string[] = [];
  let position = 0;
  for (;;) {
    if (content.charCodeAt(position) === QUOTE_CODE) {
      const close = content.indexOf(QUOTE, position + 1);
      if (close === -1) return undefined;
      const after = close + 1;
      if (after !== content.length && content.charCodeAt(after) !== COMMA_CODE) return undefined;
      fields.push(content.slice(position + 1, close));
      if (after === content.length) return trimAll(fields);
      position = after + 1;
    } else {
      const comma = content.indexOf(',', position);
      const end = comma === -1 ? content.length : comma;
      const field = content.slice(position, end);
      if (field.indexOf(QUOTE) !== -1) return undefined;
      fields.push(field);
      if (comma === -1) return trimAll(fields);
      position = comma + 1;
    }
  }
}

function trimAll(fields: string[]): string[] {
  for (let i = 0; i < fields.length; i += 1) fields[i] = (fields[i] as string).trim();
  return fields;
}

function countQuotes(buffer: string, start: number, end: number): number {
  let count = 0;
  for (let i = buffer.indexOf(QUOTE, start); i !== -1 && i < end; i = buffer.indexOf(QUOTE, i + 1)) count += 1;
  return count;
}

/** CRLF, LF and lone CR each end one physical line. */
function countLineBreaks(bytes: Buffer, start: number, end: number): number {
  let breaks = 0;
  for (let i = start; i < end; i += 1) {
    const byte = bytes[i];
    if (byte === LF || (byte === CR && bytes[i + 1] !== LF)) breaks += 1;
  }
  return breaks;
}
