import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { batchIdParam, routeParam } from '../shared/http/answers.js';
import { batchRedriveAnswer } from '../shared/http/redrive-answers.js';
import { runtime } from '../shared/runtime.js';
import { redriveBatch } from '../shared/services/pipeline/redrive.js';

/**
 * POST /api/batches/{batchId}/redrive: every stalled device of a supplier file re-driven.
 * 202 `{batchId, redriven, serials}` (and `deferred`: devices Autopilot could not be asked
 * about now), 404 unknown. Function key in Azure.
 */
export async function redriveBatchRoute(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const batchId = routeParam(batchIdParam, request.params.batchId, { code: 'invalid-batch-id', name: 'batch id' });
  if (!batchId.ok) return batchId.answer;
  const rt = await runtime();
  return batchRedriveAnswer(await redriveBatch(rt.pipelineDeps(), batchId.value, context.invocationId, 'route'));
}

export const redriveBatchOptions: HttpFunctionOptions = {
  methods: ['POST'],
  route: 'batches/{batchId}/redrive',
  authLevel: 'function',
  handler: redriveBatchRoute,
};

app.http('redriveBatch', redriveBatchOptions);
