import { app, type HttpFunctionOptions, type HttpResponseInit } from '@azure/functions';
import { answer } from '../shared/http/answers.js';
import { runtime } from '../shared/runtime.js';
import { reportHealth } from '../shared/services/health.js';

/**
 * GET /api/health (anonymous): liveness plus storage, Service Bus and Graph checks.
 * 200 {status: 'ok'} or 503 {status: 'degraded'} with a short reason per failing check.
 */

const START_TIMEOUT_MS = 10_000;

export async function health(): Promise<HttpResponseInit> {
  const report = await reportHealth(async () => (await runtime()).health, START_TIMEOUT_MS);
  return answer(report.status === 'ok' ? 200 : 503, report);
}

export const healthOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'health',
  authLevel: 'anonymous',
  handler: health,
};

app.http('health', healthOptions);
