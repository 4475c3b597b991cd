import type { TestProject } from 'vitest/node';
import { startAzurite, type AzuriteInstance } from '../../local/azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    storageConnectionString: string;
  }
}

let azurite: AzuriteInstance | undefined;

/** One Azurite for the whole run; tests isolate themselves with unique table/container names. */
export async function setup(project: TestProject): Promise<void> {
  azurite = await startAzurite();
  project.provide('storageConnectionString', azurite.connectionString);
}

export async function teardown(): Promise<void> {
  await azurite?.stop();
}
