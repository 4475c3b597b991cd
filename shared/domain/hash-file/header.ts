import type { FileRejection, HashFileFormat } from './types.js';

export type HashFileField = 'serialNumber' | 'productKey' | 'hardwareHash' | 'groupTag' | 'assignedUser' | 'manufacturer' | 'model';

/** Column names as Microsoft spells them; matched case-insensitively, trimmed, inner spaces collapsed. */
export const COLUMN_NAMES: Readonly<Record<HashFileField, string>> = {
  serialNumber: 'Device Serial Number',
  productKey: 'Windows Product ID',
  hardwareHash: 'Hardware Hash',
  groupTag: 'Group Tag',
  assignedUser: 'Assigned User',
  manufacturer: 'Manufacturer name',
  model: 'Device model',
};

const FIELD_BY_NAME: ReadonlyMap<string, HashFileField> = new Map(
  (Object.entries(COLUMN_NAMES) as [HashFileField, string][]).map(([field, name]) => [normaliseName(name), field]),
);

const EXPECTED_HEADER =
  'Device Serial Number,Windows Product ID,Hardware Hash[,Group Tag][,Assigned User] (or the OEM variant ending in Manufacturer name,Device model)';

export interface HashFileHeader {
  format: HashFileFormat;
  /** Field of each column; undefined for columns with an empty name (trailing commas from a spreadsheet). */
  columns: (HashFileField | undefined)[];
  /** Column index per field present. */
  index: Partial<Record<HashFileField, number>>;
}

function normaliseName(name: string): string {
  return name.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** Lines a tool may write before the header: PowerShell's `#TYPE ...` and Excel's `sep=,`. */
export function isPreambleLine(fields: readonly string[]): boolean {
  const first = (fields[0] ?? '').toLowerCase();
  return (fields.length === 1 && first.startsWith('#type')) || (fields.length <= 2 && first.startsWith('sep='));
}

/**
 * Reads the header. Unknown named columns reject the whole file (`too-many-columns`):
 * silently ignoring a column the supplier filled in would hide a misunderstanding, and the
 * Intune portal refuses them too. Empty column names are ignored.
 */
export function readHeader(fields: readonly string[], line: number): HashFileHeader | FileRejection {
  const columns: (HashFileField | undefined)[] = [];
  const index: Partial<Record<HashFileField, number>> = {};
  const unknown: string[] = [];
  for (const [position, raw] of fields.entries()) {
    const name = normaliseName(raw);
    if (name === '') {
      columns.push(undefined);
      continue;
    }
    const field = FIELD_BY_NAME.get(name);
    if (field === undefined) {
      unknown.push(raw.trim());
      columns.push(undefined);
      continue;
    }
    if (index[field] !== undefined) {
      return { code: 'unreadable-file', line, message: `The header names the column "${COLUMN_NAMES[field]}" twice.` };
    }
    index[field] = position;
    columns.push(field);
  }

  const missing = (['serialNumber', 'hardwareHash'] as const).filter((field) => index[field] === undefined);
  if (missing.length > 0) {
    return { code: 'unreadable-file', line, message: unrecognisedHeaderMessage(fields, missing) };
  }
  if (unknown.length > 0) {
    return {
      code: 'too-many-columns',
      line,
      message: `The header has columns that are not part of a hash file: ${unknown.map((n) => `"${shorten(n)}"`).join(', ')}. Expected: ${EXPECTED_HEADER}.`,
    };
  }
  const format: HashFileFormat = index.manufacturer !== undefined || index.model !== undefined ? 'oem' : 'intune';
  return { format, columns, index };
}

export function isHeaderRejection(value: HashFileHeader | FileRejection): value is FileRejection {
  return 'code' in value;
}

function unrecognisedHeaderMessage(fields: readonly string[], missing: readonly HashFileField[]): string {
  const first = fields.join(',');
  if (fields.length === 1 && first.includes(';') && first.toLowerCase().includes('hardware hash')) {
    return `The header uses ';' to separate columns. Save the file as comma-separated CSV. Expected: ${EXPECTED_HEADER}.`;
  }
  const known = fields.some((field) => FIELD_BY_NAME.has(normaliseName(field)));
  return known
    ? `The header lacks the column(s) ${missing.map((field) => `"${COLUMN_NAMES[field]}"`).join(' and ')}. Expected: ${EXPECTED_HEADER}.`
    : `The first line is not a hash-file header. Expected: ${EXPECTED_HEADER}.`;
}

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
