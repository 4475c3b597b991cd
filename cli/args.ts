import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_ERROR, firstLine, UsageError, type ZtpIo } from './io.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Strict parsing: an unknown option or a missing value is a usage error, never ignored. */
export function parseCommandArgs<const O extends OptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Exactly one positional argument, named in the message when it is missing. */
export function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`no ${what} given`);
  if (positionals.length > 1) throw new UsageError(`give exactly one ${what}`);
  const value = (positionals[0] as string).trim();
  if (value === '') throw new UsageError(`the ${what} is empty`);
  return value;
}

/**
 * Runs a command body and turns what it throws into the exit-code contract: usage errors
 * print the usage, anything else (storage unreachable, bad connection string) one line.
 */
export async function runCommand(name: string, usage: string, io: ZtpIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) io.stderr(`ztp ${name}: ${error.message}\n${usage}`);
    else io.stderr(`ztp ${name}: ${firstLine(error)}\n`);
    return EXIT_ERROR;
  }
}

export function wantsHelp(values: { help?: boolean | undefined }, usage: string, io: ZtpIo): boolean {
  if (values.help !== true) return false;
  io.stdout(usage);
  return true;
}
