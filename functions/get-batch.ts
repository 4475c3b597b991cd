import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { answer, batchIdParam, problem, routeParam } from '../shared/http/answers.js';
import { runtime } from '../shared/runtime.js';
import { batchSummary } from '../shared/services/status.js';

/**
 * GET /api/batches/{batchId}: a supplier file — its record, its devices counted by current
 * state, and the rejected, failed or stalled ones with their reasons. Function key in Azure.
 */
export async function getBatch(request: HttpRequest): Promise<HttpResponseInit> {
  const batchId = routeParam(batchIdParam, request.params.batchId, { code: 'invalid-batch-id', name: 'batch id' });
  if (!batchId.ok) return batchId.answer;
  const summary = await batchSummary(await runtime(), batchId.value);
  return summary ? answer(200, summary) : problem(404, 'batch-not-found', 'No file with this batch id is known.');
}

export const getBatchOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'batches/{batchId}',
  authLevel: 'function',
  handler: getBatch,
};

app.http('getBatch', getBatchOptions);
