import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { runtime } from '../shared/runtime.js';
import { batchSummary } from '../shared/services/status.js';

/**
 * GET /api/batches/{batchId}: a supplier file — its record, its devices counted by current
 * state, and the rejected, failed or stalled ones with their reasons. Function key in Azure.
 */

/** Batch ids are the first 32 hex digits of the file's SHA-256. */
const batchIdParam = z
  .string()
  .trim()
  .regex(/^[0-9a-f]{32}$/i, 'must be 32 hexadecimal digits')
  .transform((id) => id.toLowerCase());

const NO_STORE = { 'Cache-Control': 'no-store' };

export async function getBatch(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const batchId = batchIdParam.safeParse(request.params.batchId ?? '');
  if (!batchId.success) {
    return {
      status: 400,
      headers: NO_STORE,
      jsonBody: { error: { code: 'invalid-batch-id', message: `The batch id ${batchId.error.issues[0]?.message ?? 'is invalid'}.` } },
    };
  }
  const rt = await runtime();
  const summary = await batchSummary(rt, batchId.data);
  if (summary === undefined) {
    return {
      status: 404,
      headers: NO_STORE,
      jsonBody: { error: { code: 'batch-not-found', message: 'No file with this batch id is known.' } },
    };
  }
  return { status: 200, headers: NO_STORE, jsonBody: summary };
}

export const getBatchOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'batches/{batchId}',
  authLevel: 'function',
  handler: getBatch,
};

app.http('getBatch', getBatchOptions);
