import type { FileOutcome, HashFileEncoding, HashFileFormat, ValidatedRow } from './types.js';

/**
 * A file's offline validation as `ztp validate --json` prints it and the supplier upload API
 * answers it (product.md, "CLI"): every row with its errors and warnings, the counts, and for a
 * file rejected as a whole no rows and an `error` with the file-level reason code.
 */

export interface SummaryProblem {
  readonly code: string;
  readonly message: string;
}

export interface SummaryRow {
  readonly line: number;
  readonly serialNumber: string | null;
  readonly status: 'accepted' | 'rejected';
  readonly errors: readonly SummaryProblem[];
  readonly warnings: readonly SummaryProblem[];
}

export interface ValidationSummary {
  readonly format: HashFileFormat | null;
  readonly encoding: HashFileEncoding | null;
  readonly rows: readonly SummaryRow[];
  readonly summary: { readonly total: number; readonly accepted: number; readonly rejected: number };
  readonly error?: { readonly code: string; readonly message: string; readonly line: number | null };
}

/** One row as the summary lists it: never the decoded device (and its 4 KB hash). */
export function summaryRow(row: ValidatedRow): SummaryRow {
  return {
    line: row.line,
    serialNumber: row.serialNumber ?? null,
    status: row.status,
    errors: row.errors.map(({ code, message }) => ({ code, message })),
    warnings: row.warnings.map(({ code, message }) => ({ code, message })),
  };
}

export function validationSummary(outcome: FileOutcome, rows: readonly SummaryRow[]): ValidationSummary {
  const rejected = outcome.rejected;
  // A file rejected as a whole has no rows: none of them counts.
  const listed = rejected === undefined ? rows : [];
  const accepted = listed.filter((row) => row.status === 'accepted').length;
  return {
    format: outcome.format ?? null,
    encoding: outcome.encoding ?? null,
    rows: listed,
    summary: { total: listed.length, accepted, rejected: listed.length - accepted },
    ...(rejected === undefined ? {} : { error: { code: rejected.code, message: rejected.message, line: rejected.line ?? null } }),
  };
}
