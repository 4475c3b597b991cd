import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ZtpError } from '../shared/errors.js';

/**
 * Where a running local stack listens, published in `<repository>/.local/stack.json` so the
 * `ztp` command line (and anything else on the machine) finds it with no settings at all.
 * The stack writes the file when everything is up and removes it when it stops.
 *
 * Writer and reader share this one module so the format cannot drift between them. It lives
 * with the command line, its reader, because the CLI must not depend on local/ (the stack
 * and its test doubles), while local/ may build on the CLI.
 */

export interface StackEndpoints {
  /** Full Azurite connection string with explicit endpoints. */
  readonly storageConnectionString: string;
  /** The Service Bus test broker, in the emulator connection-string form. */
  readonly serviceBusConnectionString: string;
  /** Base URL of the dev host's HTTP routes, e.g. `http://127.0.0.1:7071/api`. */
  readonly apiBaseUrl: string;
  readonly graphBaseUrl?: string;
  /**
   * The REPROVISION_WEBHOOK_SECRET the stack's app checks (one secret, or several separated by
   * commas), so `ztp reprovision` signs for this stack with no settings. Local only: the file
   * is readable by its owner alone and never leaves the machine.
   */
  readonly webhookSecret?: string;
  /**
   * Upload keys of the demo suppliers, by supplier id, so `ztp upload --url` and curl work
   * against this stack's upload API with no settings. Throwaway keys, made up at each start.
   */
  readonly supplierKeys?: Readonly<Record<string, string>>;
  /** The stack's process id: a file left behind by a stack that crashed can be recognised. */
  readonly pid?: number;
  readonly startedAt?: string;
}

export const STACK_ENDPOINTS_FILE = join('.local', 'stack.json');

const schema = z.looseObject({
  storageConnectionString: z.string().min(1),
  serviceBusConnectionString: z.string().min(1),
  apiBaseUrl: z.string().min(1),
  graphBaseUrl: z.string().min(1).optional(),
  webhookSecret: z.string().min(1).optional(),
  supplierKeys: z.record(z.string(), z.string().min(1)).optional(),
  pid: z.number().int().positive().optional(),
  startedAt: z.string().optional(),
});

export class StackEndpointsError extends ZtpError {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

export function stackEndpointsPath(root: string): string {
  return join(root, STACK_ENDPOINTS_FILE);
}

/** Written to a temporary file and renamed, so a reader never sees half a file. */
export async function writeStackEndpoints(root: string, endpoints: StackEndpoints): Promise<string> {
  const path = stackEndpointsPath(root);
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  // Connection strings and the webhook secret are credentials, even the emulator's well-known ones.
  await writeFile(temporary, `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
  return path;
}

export async function removeStackEndpoints(root: string): Promise<void> {
  await rm(stackEndpointsPath(root), { force: true });
}

export async function readStackEndpoints(path: string): Promise<StackEndpoints> {
  const endpoints = await readIfPresent(path);
  if (endpoints === undefined) throw new StackEndpointsError(path, 'does not exist');
  return endpoints;
}

/**
 * The nearest `.local/stack.json` in `startDir` or a folder above it, so commands work from
 * anywhere inside the repository. Undefined when there is none; a file that exists but is
 * damaged is an error rather than a reason to keep looking further up.
 */
export async function locateStackEndpoints(startDir: string): Promise<{ path: string; endpoints: StackEndpoints } | undefined> {
  let dir = resolve(startDir);
  for (;;) {
    const path = stackEndpointsPath(dir);
    const endpoints = await readIfPresent(path);
    if (endpoints !== undefined) return { path, endpoints };
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The local stack a command talks to, found the way the stack publishes it: with
 * `ZTP_LOCAL_ROOT` set, the stack writes exactly `<ZTP_LOCAL_ROOT>/.local/stack.json` (a
 * relative root counts from the working directory, as for `npm start`), so only that file is
 * read — several stacks or instances on one machine each have their own root, and falling
 * back to another would talk to the wrong one. Otherwise the nearest one from the working
 * directory up. `searched` says where it looked, for the message when nothing is found.
 */
export async function locateLocalStack(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<{ found?: { path: string; endpoints: StackEndpoints }; searched: string }> {
  const root = env.ZTP_LOCAL_ROOT?.trim();
  if (root) {
    const path = stackEndpointsPath(resolve(cwd, root));
    const endpoints = await readIfPresent(path);
    return { found: endpoints === undefined ? undefined : { path, endpoints }, searched: `${path} (ZTP_LOCAL_ROOT)` };
  }
  const found = await locateStackEndpoints(cwd);
  return { found, searched: `${STACK_ENDPOINTS_FILE} in ${cwd} or above` };
}

export async function findStackEndpoints(startDir: string): Promise<StackEndpoints | undefined> {
  return (await locateStackEndpoints(startDir))?.endpoints;
}

async function readIfPresent(path: string): Promise<StackEndpoints | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new StackEndpointsError(path, `cannot be read (${(error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new StackEndpointsError(path, `is not JSON (${(error as Error).message})`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`).join('; ');
    throw new StackEndpointsError(path, `is not a valid endpoints file (${problems})`);
  }
  return result.data;
}
