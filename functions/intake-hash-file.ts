import { app, type InvocationContext, type StorageBlobFunctionOptions } from '@azure/functions';
import { runtime } from '../shared/runtime.js';
import { INTAKE_CONTAINER } from '../shared/domain/blob-layout.js';
import { ingestHashFile } from '../shared/services/intake/index.js';

/**
 * A supplier dropped a hash file into hash-uploads/{supplier}/{name}. The host hands the
 * blob over, but intake streams it itself (pinned to its ETag), so memory stays bounded
 * by the parser, not the file.
 */
export async function intakeHashFile(_blob: unknown, context: InvocationContext): Promise<void> {
  const rt = await runtime();
  const fullPath = String(
    context.triggerMetadata?.blobTrigger ??
      `${INTAKE_CONTAINER}/${String(context.triggerMetadata?.supplier)}/${String(context.triggerMetadata?.name)}`,
  );
  const blobName = fullPath.startsWith(`${INTAKE_CONTAINER}/`) ? fullPath.slice(INTAKE_CONTAINER.length + 1) : fullPath;
  await ingestHashFile(rt.intakeDeps(), blobName, context.invocationId);
}

export const intakeHashFileOptions: StorageBlobFunctionOptions = {
  path: `${INTAKE_CONTAINER}/{supplier}/{name}`,
  connection: 'AzureWebJobsStorage',
  source: 'EventGrid',
  handler: intakeHashFile,
};

app.storageBlob('intakeHashFile', intakeHashFileOptions);
