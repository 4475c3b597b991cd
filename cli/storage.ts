import { ZtpError } from '../shared/errors.js';
import { locateLocalStack } from './stack-endpoints.js';
import { firstLine, type ZtpIo } from './io.js';

/**
 * Which storage account the commands talk to: the one named by `AzureWebJobsStorage` (the
 * same setting the Functions app uses, so it works against Azure), otherwise the running
 * local stack found through its endpoints file (in ZTP_LOCAL_ROOT when that is set, as the
 * stack writes it there).
 */

export interface StorageTarget {
  readonly connectionString: string;
  /** For messages; never contains the connection string's key. */
  readonly description: string;
}

export class NoStorageError extends ZtpError {}

export async function resolveStorage(io: Pick<ZtpIo, 'env' | 'cwd'>): Promise<StorageTarget> {
  const fromEnv = io.env.AzureWebJobsStorage?.trim();
  if (fromEnv) return { connectionString: fromEnv, description: `storage account ${accountName(fromEnv)} (AzureWebJobsStorage)` };

  const { found, searched } = await locateLocalStack(io.env, io.cwd);
  if (found === undefined) {
    throw new NoStorageError(
      `no storage to talk to: AzureWebJobsStorage is not set and no running local stack was found (no ${searched}). ` +
        'Start the local stack with `npm start`, or set AzureWebJobsStorage to a storage connection string.',
    );
  }
  const { pid } = found.endpoints;
  if (pid !== undefined && !isRunning(pid)) {
    throw new NoStorageError(
      `${found.path} was left by a local stack that is no longer running (process ${pid}). ` +
        'Start the local stack with `npm start`, or set AzureWebJobsStorage to a storage connection string.',
    );
  }
  return { connectionString: found.endpoints.storageConnectionString, description: `the local stack (${found.path})` };
}

function accountName(connectionString: string): string {
  if (/UseDevelopmentStorage=true/i.test(connectionString)) return 'devstoreaccount1';
  return /(?:^|;)\s*AccountName=([^;]+)/i.exec(connectionString)?.[1]?.trim() ?? '(unnamed)';
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Builds a client; a connection string the SDK cannot parse becomes a message that says so. */
export function connect<T>(storage: StorageTarget, open: (connectionString: string) => T): T {
  try {
    return open(storage.connectionString);
  } catch (error) {
    throw new Error(`the connection string of ${storage.description} cannot be used (${firstLine(error)})`);
  }
}
