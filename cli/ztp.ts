import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runBatch } from './commands/batch.js';
import { runRedrive } from './commands/redrive.js';
import { runReprovision } from './commands/reprovision.js';
import { runStatus } from './commands/status.js';
import { runSupplierKey } from './commands/supplier-key.js';
import { runUpload } from './commands/upload.js';
import { runValidate } from './commands/validate.js';
import { EXIT_ERROR, EXIT_OK, firstLine, printable, type ZtpIo } from './io.js';

/** `ztp`: the product's command line. `bin/ztp.js` and `npm run ztp` both end up in `runFromProcess`. */

export const USAGE = `Usage: ztp <command> [options]

Commands:
  validate <file> [--supplier <id>] [--json]            validate a hash file offline, exactly as the intake would
  upload <file> --supplier <id> [--name <file name>]    put a file into hash-uploads/<supplier>/ for the intake
  upload <file> --supplier <id> --url <origin> [--key <key>] [--json]
                                                        send it to the app's supplier upload API instead (upload --help)
  status <serial> [--json]                              a device's state, ids and full history
  batch <batchId> [--json]                              a supplier file: counts per state, rejected and failed devices
  batch <batchId> --watch [--interval <seconds>]        the same, live, until the file is settled
  reprovision <serial> --action <a> --ticket <t> --requested-by <who> [options]
                                                        a signed re-provisioning request to the app (reprovision --help)
  redrive <serial> | --batch <batchId> [--url <origin>] [--json]
                                                        re-drive a stalled device, or a file's stalled devices (redrive --help)
  supplier-key <supplierId> [--json]                    make a supplier upload key: printed once, with the hash for ZTP_SUPPLIERS
  help                                                  this text

upload (without --url), status and batch use the storage account in AzureWebJobsStorage when it is set,
otherwise the running local stack (found through .local/stack.json, in ZTP_LOCAL_ROOT when set, else from here up; start it with npm start);
upload --url sends to the app's upload API with the supplier's key (--key, ZTP_SUPPLIER_KEY, or the local stack's);
reprovision sends to --url, otherwise to the running local stack's API, signed with REPROVISION_WEBHOOK_SECRET
or, for the local stack, the secret it publishes; redrive sends there too, with the function key in ZTP_FUNCTION_KEY.

Exit codes: 0 done; 1 rows rejected (validate, upload --url), device/batch not found (status, batch) or request not accepted (reprovision, redrive);
2 usage errors, unreadable files, no storage or storage errors, no secret or no answer (reprovision, redrive), the file not taken (upload --url).
`;

type Command = (argv: string[], io: ZtpIo) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  validate: runValidate,
  upload: runUpload,
  status: runStatus,
  batch: runBatch,
  reprovision: runReprovision,
  redrive: runRedrive,
  'supplier-key': runSupplierKey,
};

/** Runs one command line (without the `node ztp` prefix) and resolves to its exit code; never throws. */
export async function main(argv: readonly string[], io: ZtpIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(USAGE);
    return EXIT_ERROR;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.stderr(`ztp: unknown command "${printable(name)}"\n\n${USAGE}`);
    return EXIT_ERROR;
  }
  try {
    return await command(rest, io);
  } catch (error) {
    io.stderr(`ztp ${name}: ${firstLine(error)}\n`);
    return EXIT_ERROR;
  }
}

export async function runFromProcess(): Promise<void> {
  process.exitCode = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stdout.isTTY === true,
    onInterrupt: (listener) => {
      process.once('SIGINT', listener);
      return () => process.off('SIGINT', listener);
    },
  });
}

function isEntryPoint(): boolean {
  const invoked = process.argv[1];
  if (invoked === undefined) return false;
  try {
    return realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await runFromProcess();
