import { sampleHashFile } from '../../local/sample-data.js';
import { StorageAccess } from '../../shared/adapters/storage-access.js';
import { loadConfig } from '../../shared/config.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../shared/domain/blob-layout.js';
import { BLOB_TRIGGER_POISON_QUEUE } from '../../shared/domain/intake-failures.js';
import { createLogger } from '../../shared/log.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import { ingestHashFile } from '../../shared/services/intake/index.js';
import { sweep } from '../../shared/services/sweeper.js';

/**
 * The product in a process of its own, on the settings in its environment, as the Functions
 * host would start it: what a managed identity needs (IDENTITY_ENDPOINT, IDENTITY_HEADER) and
 * the TLS trust for a local storage endpoint (NODE_EXTRA_CA_CERTS) are read when the process
 * and its credential start. It builds the real runtime, then uses blobs, tables and the queue:
 * a hash file written and taken in, its batch and report read back, a poison message for it
 * (as the blob trigger leaves one) found by a sweep. The one argument seeds the hash file, so
 * runs against one account take in different files. Prints one JSON line, `{ stage: 'done', … }`,
 * or `{ stage: 'start' | 'work', error }` and exits 1. Logs go to stderr.
 */

interface Failure {
  readonly name: string;
  readonly message: string;
  readonly statusCode?: number;
  readonly code?: string;
}

function describe(error: unknown): Failure {
  if (!(error instanceof Error)) return { name: 'unknown', message: String(error) };
  const { statusCode, code } = error as { statusCode?: unknown; code?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof statusCode === 'number' ? { statusCode } : {}),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

function finish(result: Record<string, unknown>, exitCode: number): void {
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(exitCode));
}

async function work(runtime: Runtime, seed: number): Promise<Record<string, unknown>> {
  const blobName = `contoso/identity-${seed}.csv`;
  const file = sampleHashFile({ rows: 3, seed, columns: 4, groupTags: ['MPS-STD'] });
  await runtime.blobs.writeText(INTAKE_CONTAINER, blobName, file.text, 'text/csv');
  const intake = await ingestHashFile(runtime.intakeDeps(), blobName, 'identity-storage');
  const batch = intake.batchId ? await runtime.batches.get(intake.batchId) : undefined;
  const report = await runtime.blobs.readText(RESULTS_CONTAINER, intake.reportBlob);

  // The poison message the Functions host leaves when the blob trigger gives up on a file.
  const poison = StorageAccess.from(runtime.config.storage).queue(BLOB_TRIGGER_POISON_QUEUE);
  await poison.createIfNotExists();
  const message = {
    FunctionId: 'Host.Functions.intakeHashFile',
    BlobType: 'BlockBlob',
    ContainerName: INTAKE_CONTAINER,
    BlobName: blobName,
  };
  await poison.sendMessage(Buffer.from(JSON.stringify(message)).toString('base64'));
  const swept = await sweep(runtime.sweeperDeps(), 'identity-storage-sweep');

  return {
    stage: 'done',
    intake: { status: intake.status, counts: intake.counts },
    batch: batch && { id: batch.value.batchId, status: batch.value.status, supplier: batch.value.supplierId },
    acceptedInReport: report?.match(/"accepted"/g)?.length ?? 0,
    sweep: { intakeFailures: swept.intakeFailures },
  };
}

async function main(seed: number): Promise<void> {
  let runtime: Runtime;
  try {
    const config = loadConfig(process.env);
    runtime = await createRuntime(config, createLogger({ level: config.logLevel }, process.stderr));
  } catch (error) {
    return finish({ stage: 'start', error: describe(error) }, 1);
  }
  let result: Record<string, unknown>;
  let exitCode = 0;
  try {
    result = await work(runtime, seed);
  } catch (error) {
    result = { stage: 'work', error: describe(error) };
    exitCode = 1;
  }
  await runtime.close().catch(() => undefined);
  finish(result, exitCode);
}

void main(Number(process.argv[2] ?? 1));
