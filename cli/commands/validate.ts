import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_HASH_FILE_LIMITS, validateHashFile } from '../../shared/domain/hash-file/index.js';
import type { FileOutcome, FileRejection, HashFileEncoding, HashFileFormat, ValidatedRow } from '../../shared/domain/hash-file/index.js';
import { loadSupplierPolicies } from '../../shared/config.js';
import { findSupplier } from '../../shared/domain/suppliers.js';
import type { SupplierPolicy } from '../../shared/domain/suppliers.js';

/**
 * `ztp validate <file> [--supplier <id>] [--json]`: validates a hash file offline with the
 * intake's own parser and rules. Exit 0 when every row is accepted, 1 when any row is
 * rejected, 2 when the file cannot be used at all (unreadable, or rejected as a whole by
 * a limit or unknown header columns) and on usage or configuration errors.
 */

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Defaults to process.env; ZTP_SUPPLIERS is read from it when --supplier is given. */
  env?: Readonly<Record<string, string | undefined>>;
}

export const EXIT_ALL_ACCEPTED = 0;
export const EXIT_ROWS_REJECTED = 1;
export const EXIT_FILE_UNUSABLE = 2;

const USAGE = 'Usage: ztp validate <file> [--supplier <id>] [--json]\n';

interface JsonRow {
  line: number;
  serialNumber: string | null;
  status: 'accepted' | 'rejected';
  errors: { code: string; message: string }[];
  warnings: { code: string; message: string }[];
}

/** `argv` holds the arguments after `validate`. Resolves to the exit code; never throws. */
export async function runValidate(argv: string[], io: CliIo): Promise<number> {
  let file: string;
  let supplierId: string | undefined;
  let json: boolean;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { supplier: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      io.stdout(USAGE);
      return EXIT_ALL_ACCEPTED;
    }
    if (positionals.length !== 1) throw new Error(positionals.length === 0 ? 'no file given' : 'give exactly one file');
    file = positionals[0] as string;
    supplierId = values.supplier;
    json = values.json === true;
  } catch (error) {
    io.stderr(`ztp validate: ${(error as Error).message}\n${USAGE}`);
    return EXIT_FILE_UNUSABLE;
  }

  let supplier: SupplierPolicy | undefined;
  if (supplierId !== undefined) {
    try {
      const policies = loadSupplierPolicies((io.env ?? process.env).ZTP_SUPPLIERS);
      supplier = findSupplier(policies, supplierId);
      if (supplier === undefined) {
        const known = policies.map((policy) => policy.id).join(', ') || 'none (ZTP_SUPPLIERS is not set)';
        io.stderr(`ztp validate: unknown supplier "${supplierId}"; configured suppliers: ${known}\n`);
        return EXIT_FILE_UNUSABLE;
      }
    } catch (error) {
      io.stderr(`ztp validate: ${(error as Error).message}\n`);
      return EXIT_FILE_UNUSABLE;
    }
  }

  const validation = validateHashFile(createReadStream(file), { ...DEFAULT_HASH_FILE_LIMITS, supplier });
  const rows: ValidatedRow[] = [];
  let outcome: FileOutcome;
  try {
    for await (const row of validation.rows) rows.push(withoutDevice(row));
    outcome = await validation.outcome;
  } catch (error) {
    const rejection: FileRejection = { code: 'unreadable-file', message: `The file cannot be read: ${(error as Error).message}` };
    outcome = { rejected: rejection, counts: { total: 0, accepted: 0, rejected: 0 }, bytesRead: 0 };
  }

  if (json) io.stdout(`${JSON.stringify(toJson(outcome, rows))}\n`);
  else io.stdout(toText(file, outcome, rows));
  if (outcome.rejected !== undefined) return EXIT_FILE_UNUSABLE;
  return outcome.counts.rejected > 0 ? EXIT_ROWS_REJECTED : EXIT_ALL_ACCEPTED;
}

/** The CLI holds every row; the decoded device (and its 4 KB hash) is not needed for output. */
function withoutDevice(row: ValidatedRow): ValidatedRow {
  const { device: _device, ...rest } = row;
  return rest;
}

/**
 * The contract shape. A file rejected as a whole has no rows (none of them counts) and an
 * extra `error` with the file-level reason code.
 */
function toJson(outcome: FileOutcome, rows: readonly ValidatedRow[]): object {
  const rejected = outcome.rejected;
  const jsonRows: JsonRow[] =
    rejected === undefined
      ? rows.map((row) => ({
          line: row.line,
          serialNumber: row.serialNumber ?? null,
          status: row.status,
          errors: row.errors.map(({ code, message }) => ({ code, message })),
          warnings: row.warnings.map(({ code, message }) => ({ code, message })),
        }))
      : [];
  const accepted = jsonRows.filter((row) => row.status === 'accepted').length;
  return {
    format: outcome.format ?? null,
    encoding: outcome.encoding ?? null,
    rows: jsonRows,
    summary: { total: jsonRows.length, accepted, rejected: jsonRows.length - accepted },
    ...(rejected === undefined ? {} : { error: { code: rejected.code, message: rejected.message, line: rejected.line ?? null } }),
  };
}

const FORMAT_NAMES: Record<HashFileFormat, string> = { intune: 'Intune format', oem: 'OEM format' };
const ENCODING_NAMES: Record<HashFileEncoding, string> = {
  'utf-8': 'UTF-8',
  'utf-8-bom': 'UTF-8 with BOM',
  'utf-16le': 'UTF-16 LE',
  'utf-16be': 'UTF-16 BE',
  'windows-1252': 'Windows-1252',
};

function toText(file: string, outcome: FileOutcome, rows: readonly ValidatedRow[]): string {
  const described = [outcome.format && FORMAT_NAMES[outcome.format], outcome.encoding && ENCODING_NAMES[outcome.encoding]].filter(Boolean);
  const lines = [`${printable(file)}${described.length > 0 ? `: ${described.join(', ')}` : ''}`];
  const rejected = outcome.rejected;
  if (rejected !== undefined) {
    const where = rejected.line === undefined ? '' : ` (line ${rejected.line})`;
    lines.push(`The whole file is rejected${where}: ${rejected.code}`, `    ${printable(rejected.message)}`);
    return `${lines.join('\n')}\n`;
  }
  for (const row of rows) {
    if (row.errors.length === 0 && row.warnings.length === 0) continue;
    const serial = row.serialNumber === undefined ? 'no serial' : `serial ${printable(row.serialNumber)}`;
    lines.push(`line ${row.line} (${serial}): ${row.status}`);
    for (const error of row.errors) lines.push(`    ${error.code}: ${printable(error.message)}`);
    for (const warning of row.warnings) lines.push(`    warning ${warning.code}: ${printable(warning.message)}`);
  }
  const { total, accepted } = outcome.counts;
  lines.push(`${total} ${total === 1 ? 'row' : 'rows'}: ${accepted} accepted, ${total - accepted} rejected.`);
  return `${lines.join('\n')}\n`;
}

/** File content goes to a terminal: control characters are shown, never sent. */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
