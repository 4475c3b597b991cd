import { app, type HttpFunctionOptions, type HttpResponseInit } from '@azure/functions';
import { answer } from '../shared/http/answers.js';
import { runtime } from '../shared/runtime.js';
import { whenStarted } from '../shared/services/health.js';

/**
 * GET /api/health/details (function key): the app-wide dependency check — storage, Service
 * Bus and Graph, each with its outcome, time and a short reason when it failed — with when it
 * was taken. A result older than the interval is taken again first, by one instance for the
 * whole app. 200 when every check passed, 503 otherwise; a start-up failure names the setting.
 */

const START_TIMEOUT_MS = 10_000;

export async function healthDetails(): Promise<HttpResponseInit> {
  const app = await whenStarted(runtime, START_TIMEOUT_MS);
  if (!app.ok) return answer(503, { status: 'degraded', reason: app.reason, checks: {} });
  const details = await app.value.health.details();
  return answer(details.status === 'ok' ? 200 : 503, details);
}

export const healthDetailsOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'health/details',
  authLevel: 'function',
  handler: healthDetails,
};

app.http('healthDetails', healthDetailsOptions);
