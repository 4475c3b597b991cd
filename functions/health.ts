import { app, type HttpFunctionOptions, type HttpResponseInit } from '@azure/functions';
import { answer } from '../shared/http/answers.js';
import { runtime } from '../shared/runtime.js';
import { whenStarted } from '../shared/services/health.js';

/**
 * GET /api/health (anonymous): liveness, 200 {"status":"ok"} or 503 {"status":"degraded"} and
 * nothing else. It reads the app-wide dependency check's newest result and never starts one:
 * an anonymous caller learns one word and costs at most one table read. The details are
 * GET /api/health/details (function key).
 */

const START_TIMEOUT_MS = 10_000;

export async function health(): Promise<HttpResponseInit> {
  const app = await whenStarted(runtime, START_TIMEOUT_MS);
  const status = app.ok ? await app.value.health.liveness() : 'degraded';
  return answer(status === 'ok' ? 200 : 503, { status });
}

export const healthOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'health',
  authLevel: 'anonymous',
  handler: health,
};

app.http('health', healthOptions);
