import type { HashFileEncoding, HashFileFormat, ValidationSummary } from '../shared/domain/hash-file/index.js';
import { printable } from './io.js';

/**
 * A file's validation summary for people, as `ztp validate` prints it and `ztp upload --url`
 * prints the one the app answered with: the rows with errors or warnings, then the counts; a
 * file rejected as a whole, its reason. And the exit code both commands give for it.
 */

export const EXIT_ALL_ACCEPTED = 0;
export const EXIT_ROWS_REJECTED = 1;
export const EXIT_FILE_UNUSABLE = 2;

const FORMAT_NAMES: Record<HashFileFormat, string> = { intune: 'Intune format', oem: 'OEM format' };
const ENCODING_NAMES: Record<HashFileEncoding, string> = {
  'utf-8': 'UTF-8',
  'utf-8-bom': 'UTF-8 with BOM',
  'utf-16le': 'UTF-16 LE',
  'utf-16be': 'UTF-16 BE',
  'windows-1252': 'Windows-1252',
};

export function validationText(file: string, validation: ValidationSummary): string {
  const described = [
    validation.format && FORMAT_NAMES[validation.format],
    validation.encoding && ENCODING_NAMES[validation.encoding],
  ].filter(Boolean);
  const lines = [`${printable(file)}${described.length > 0 ? `: ${described.join(', ')}` : ''}`];
  const rejected = validation.error;
  if (rejected !== undefined) {
    const where = rejected.line === null ? '' : ` (line ${rejected.line})`;
    lines.push(`The whole file is rejected${where}: ${rejected.code}`, `    ${printable(rejected.message)}`);
    return `${lines.join('\n')}\n`;
  }
  for (const row of validation.rows) {
    if (row.errors.length === 0 && row.warnings.length === 0) continue;
    const serial = row.serialNumber === null ? 'no serial' : `serial ${printable(row.serialNumber)}`;
    lines.push(`line ${row.line} (${serial}): ${row.status}`);
    for (const error of row.errors) lines.push(`    ${error.code}: ${printable(error.message)}`);
    for (const warning of row.warnings) lines.push(`    warning ${warning.code}: ${printable(warning.message)}`);
  }
  const { total, accepted, rejected: rejectedRows } = validation.summary;
  lines.push(`${total} ${total === 1 ? 'row' : 'rows'}: ${accepted} accepted, ${rejectedRows} rejected.`);
  return `${lines.join('\n')}\n`;
}

/** 0 every row accepted, 1 some rows rejected, 2 the file rejected as a whole. */
export function validationExitCode(validation: ValidationSummary): number {
  if (validation.error !== undefined) return EXIT_FILE_UNUSABLE;
  return validation.summary.rejected > 0 ? EXIT_ROWS_REJECTED : EXIT_ALL_ACCEPTED;
}
