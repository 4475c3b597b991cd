import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_HASH_FILE_LIMITS, summaryRow, validateHashFile, validationSummary } from '../../shared/domain/hash-file/index.js';
import type { FileOutcome, FileRejection, SummaryRow } from '../../shared/domain/hash-file/index.js';
import { loadSupplierPolicies } from '../../shared/config.js';
import { findSupplier } from '../../shared/domain/suppliers.js';
import type { SupplierPolicy } from '../../shared/domain/suppliers.js';
import { EXIT_ALL_ACCEPTED, EXIT_FILE_UNUSABLE, validationExitCode, validationText } from '../validation-text.js';
import type { CliIo } from '../io.js';

/**
 * `ztp validate <file> [--supplier <id>] [--json]`: validates a hash file offline with the
 * intake's own parser and rules. Exit 0 when every row is accepted, 1 when any row is
 * rejected, 2 when the file cannot be used at all (unreadable, or rejected as a whole by
 * a limit or unknown header columns) and on usage or configuration errors.
 */

const USAGE = 'Usage: ztp validate <file> [--supplier <id>] [--json]\n';

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
  const rows: SummaryRow[] = [];
  let outcome: FileOutcome;
  try {
    for await (const row of validation.rows) rows.push(summaryRow(row));
    outcome = await validation.outcome;
  } catch (error) {
    const rejection: FileRejection = { code: 'unreadable-file', message: `The file cannot be read: ${(error as Error).message}` };
    outcome = { rejected: rejection, counts: { total: 0, accepted: 0, rejected: 0 }, bytesRead: 0 };
  }

  const summary = validationSummary(outcome, rows);
  io.stdout(json ? `${JSON.stringify(summary)}\n` : validationText(file, summary));
  return validationExitCode(summary);
}
