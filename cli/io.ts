import { ZtpError } from '../shared/errors.js';

/** What `ztp validate` needs: it runs with no storage or stack. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Defaults to process.env; ZTP_SUPPLIERS is read from it when --supplier is given. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * What a command gets from the outside world. Tests pass their own; only `cli/ztp.ts`
 * builds one from `process`.
 */
export interface ZtpIo extends CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where `.local/stack.json` is looked for (this folder and those above it). */
  readonly cwd: string;
  /** Other table names than the product's, so tests can share one storage account. */
  readonly tables?: { readonly devices?: string; readonly batches?: string; readonly batchDevices?: string };
  /** Whether stdout is a terminal (a watch redraws its screen there, and appends lines elsewhere). */
  readonly isTTY?: boolean;
  /** Calls `listener` on Ctrl-C until the returned function is called; a watch stops on it. */
  readonly onInterrupt?: (listener: () => void) => () => void;
  /** The clock and the wait a watch uses; tests pass their own. */
  readonly now?: () => Date;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export const EXIT_OK = 0;
/** The device or batch asked about is not known. */
export const EXIT_NOT_FOUND = 1;
/** Bad usage, a missing file, no storage to talk to, or storage errors. */
export const EXIT_ERROR = 2;
/** Stopped with Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

export class UsageError extends ZtpError {}

/** Stored values (serials, file names, reasons) go to a terminal: control characters are shown, never sent. */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** SDK errors can carry a whole response body; the first line says what went wrong. */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return printable(message.split('\n', 1)[0]?.trim() ?? '');
}

/** Key/value lines with the values aligned; undefined values are left out. */
export function fields(rows: readonly (readonly [string, string | undefined])[], indent = '  '): string[] {
  const present = rows.filter((row): row is readonly [string, string] => row[1] !== undefined);
  const width = Math.max(0, ...present.map(([label]) => label.length)) + 1;
  return present.map(([label, value]) => `${indent}${`${label}:`.padEnd(width + 1)}${value}`);
}
