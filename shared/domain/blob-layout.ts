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
