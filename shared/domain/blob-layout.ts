/**
 * Where supplier files arrive and where their reports go (product contract: "Blob layout").
 * Suppliers write `hash-uploads/{supplierId}/{fileName}`; the report is
 * `hash-results/{supplierId}/{fileName}.result.csv`.
 */

export const INTAKE_CONTAINER = 'hash-uploads';
export const RESULTS_CONTAINER = 'hash-results';

/** `{supplierId}/{fileName}` -> its parts; undefined when not in a supplier folder. */
export function parseIntakePath(blobName: string): { supplierId: string; fileName: string } | undefined {
  const slash = blobName.indexOf('/');
  if (slash <= 0 || slash === blobName.length - 1) return undefined;
  return { supplierId: blobName.slice(0, slash), fileName: blobName.slice(slash + 1) };
}

export function reportBlobName(supplierId: string, fileName: string): string {
  return `${supplierId}/${fileName}.result.csv`;
}

/** A file name's length bound: a common file-system limit, far inside a blob name's 1,024 characters with folder and report suffix. */
export const MAX_FILE_NAME_LENGTH = 255;

export type FileNameCheck = { readonly ok: true; readonly fileName: string } | { readonly ok: false; readonly problem: string };

/**
 * Whether a supplier's file name can be the last segment of `hash-uploads/{supplierId}/{fileName}`
 * (and of its report's name) as it is, with nothing changed: one plain name, no folders.
 * Refused: path separators (`\` too: tools turn it into `/`), `..` anywhere, control and
 * invisible formatting characters (bidirectional overrides would make a report's name read
 * differently from what it is), leading or trailing spaces, a final dot (Azure Storage advises
 * against blob names ending in one), and names over 255 characters. `problem` completes
 * "The file name ...".
 */
export function checkFileName(name: string): FileNameCheck {
  const refuse = (problem: string): FileNameCheck => ({ ok: false, problem });
  if (name === '') return refuse('is empty');
  if (name.length > MAX_FILE_NAME_LENGTH) return refuse(`is longer than ${MAX_FILE_NAME_LENGTH} characters`);
  if (/[/\\]/.test(name)) return refuse('contains a path separator (/ or \\)');
  if (name.includes('..')) return refuse("contains '..'");
  if (/[\p{Cc}\p{Cf}]/u.test(name)) return refuse('contains control or invisible formatting characters');
  if (/^\s|\s$/u.test(name)) return refuse('starts or ends with a space');
  if (name.endsWith('.')) return refuse('ends with a dot');
  return { ok: true, fileName: name };
}
