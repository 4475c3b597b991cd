import { createHash } from 'node:crypto';
import { validateHashFile, type FileOutcome, type HashFileOptions } from '../../domain/hash-file/index.js';

/**
 * The first pass over a file: its content hash (with the supplier, the batch id) and the file-level verdict,
 * acting on nothing — a whole-file rejection (size, rows, unreadable) is only known at the end.
 */
export async function firstPass(
  open: () => Promise<AsyncIterable<Uint8Array>>,
  options: HashFileOptions,
): Promise<{ contentSha256: string; outcome: FileOutcome }> {
  let hash = createHash('sha256');
  const source = await open();
  async function* hashing(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const validation = validateHashFile(hashing(), options);
  for await (const row of validation.rows) void row;
  const outcome = await validation.outcome;
  if (outcome.rejected) {
    // Validation stopped reading early: hash the whole file for a stable batch id.
    hash = createHash('sha256');
    for await (const chunk of await open()) hash.update(chunk);
  }
  return { contentSha256: hash.digest('hex'), outcome };
}
