import { mintSupplierKey, type MintedSupplierKey } from '../../shared/domain/supplier-keys.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_OK, printable, UsageError, type ZtpIo } from '../io.js';

/**
 * `ztp supplier-key <supplierId> [--json]`: mints an upload key for a supplier and prints it,
 * once, with the SHA-256 that goes into the supplier policy. The product keeps only the hash,
 * so a key nobody wrote down is gone: mint another. Needs no settings and talks to nothing.
 */

export const SUPPLIER_KEY_USAGE = `Usage: ztp supplier-key <supplierId> [--json]

Makes a new upload key for the supplier upload API (256 random bits) and prints it once, with
its SHA-256. Give the key to the supplier over a channel you trust; put the SHA-256 into the
supplier's "uploadKeySha256" list in ZTP_SUPPLIERS. To rotate, list the new hash beside the old
one, let the supplier switch, then remove the old one.

  --json  print {"supplierId", "key", "sha256"} as one line of JSON
`;

const SUPPLIER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export async function runSupplierKey(argv: string[], io: ZtpIo, mint: () => MintedSupplierKey = () => mintSupplierKey()): Promise<number> {
  return runCommand('supplier-key', SUPPLIER_KEY_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean', default: false } });
    if (wantsHelp(values, SUPPLIER_KEY_USAGE, io)) return EXIT_OK;
    const supplierId = onePositional(positionals, 'supplier id');
    if (!SUPPLIER_ID.test(supplierId)) {
      throw new UsageError(
        `"${printable(supplierId)}" is not a supplier id: 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`,
      );
    }
    const { key, sha256 } = mint();
    if (values.json === true) {
      io.stdout(`${JSON.stringify({ supplierId, key, sha256 })}\n`);
      return EXIT_OK;
    }
    io.stdout(
      [
        `A new upload key for supplier ${supplierId}. It is shown only now and stored nowhere: give it to the supplier over a channel you trust.`,
        '',
        `  key     ${key}`,
        `  sha256  ${sha256}`,
        '',
        `Put the sha256 into the "uploadKeySha256" list of ${supplierId} in ZTP_SUPPLIERS, e.g.`,
        `  {"id": "${supplierId}", "name": "...", "uploadKeySha256": ["${sha256}"]}`,
        'The supplier sends the key as the header  Authorization: Bearer <key>',
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  });
}
