import type { FileRejection, ValidatedRow } from './hash-file/types.js';

/**
 * The result report a supplier gets for each file: one row per input row.
 *
 * Written to open safely in Excel: UTF-8 with a BOM (without it Excel assumes the ANSI code
 * page and garbles non-ASCII), CRLF line ends, every cell quoted, and cells that Excel
 * would evaluate as a formula (starting with = + - @ tab or CR) prefixed with `'` — the
 * supplier's own file content is echoed back, so it must not become a formula.
 * Built line by line, so it can be streamed as it is produced.
 */

/**
 * accepted: queued for registration; rejected: failed validation (reason given);
 * unchanged: already known with the same data; updated: already known, group tag changed.
 */
export type ReportOutcome = 'accepted' | 'rejected' | 'unchanged' | 'updated';

export interface ReportRow {
  /** Physical line in the supplier's file; absent for a whole-file verdict. */
  line?: number | undefined;
  serialNumber?: string | undefined;
  outcome: ReportOutcome;
  /** A reason code (or a warning code on an accepted row). */
  code?: string | undefined;
  message?: string | undefined;
}

export const REPORT_COLUMNS = ['Line', 'Serial Number', 'Outcome', 'Reason Code', 'Reason'] as const;

const BOM = '\uFEFF';
const CRLF = '\r\n';
const FORMULA_TRIGGERS = new Set(['=', '+', '-', '@', '\t', '\r']);

/** One cell, formula-neutralised and quoted. */
export function reportCell(value: string | number | undefined): string {
  if (value === undefined) return '""';
  const text = String(value);
  const safe = FORMULA_TRIGGERS.has(text.charAt(0)) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

export function reportLine(row: ReportRow): string {
  return [row.line, row.serialNumber, row.outcome, row.code, row.message].map(reportCell).join(',') + CRLF;
}

/** The BOM and the header line: the first text of every report. */
export const REPORT_HEADER = BOM + REPORT_COLUMNS.map(reportCell).join(',') + CRLF;

/** The report row for a validated row: the first error's code (else the first warning's), every message, warnings last. */
export function reportRowFromValidatedRow(row: ValidatedRow): ReportRow {
  const first = row.errors[0] ?? row.warnings[0];
  const messages = [...row.errors.map((error) => error.message), ...row.warnings.map((warning) => `Warning: ${warning.message}`)];
  return {
    line: row.line,
    serialNumber: row.serialNumber,
    outcome: row.status,
    code: first?.code,
    message: messages.length > 0 ? messages.join(' ') : undefined,
  };
}

export function reportRowForFileRejection(rejection: Pick<FileRejection, 'code' | 'message' | 'line'>): ReportRow {
  return { line: rejection.line, outcome: 'rejected', code: rejection.code, message: `The whole file is rejected. ${rejection.message}` };
}

/** Accumulates a report in memory; for a streamed upload use `reportChunks`. */
export class ResultReportWriter {
  private readonly parts: string[] = [REPORT_HEADER];

  add(row: ReportRow): string {
    const line = reportLine(row);
    this.parts.push(line);
    return line;
  }

  toString(): string {
    return this.parts.join('');
  }

  /** A complete report for a file rejected as a whole. */
  static fileRejected(code: string, message: string, line?: number): string {
    return REPORT_HEADER + reportLine(reportRowForFileRejection({ code: code as FileRejection['code'], message, line }));
  }
}

/** Streams a report as UTF-8 buffers of about `chunkBytes`, header first. */
export async function* reportChunks(
  rows: AsyncIterable<ReportRow> | Iterable<ReportRow>,
  chunkBytes = 64 * 1024,
): AsyncGenerator<Buffer, void, undefined> {
  let pending = REPORT_HEADER;
  for await (const row of rows) {
    pending += reportLine(row);
    if (pending.length >= chunkBytes) {
      yield Buffer.from(pending, 'utf8');
      pending = '';
    }
  }
  yield Buffer.from(pending, 'utf8');
}
