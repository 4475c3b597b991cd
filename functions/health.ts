import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { QUEUES } from '../shared/adapters/bus/queues.js';
import { EVENTS } from '../shared/events.js';
import { runtime, type Runtime } from '../shared/runtime.js';
import { checkHealth, sharedHealthCheck, startupFailureReason, type HealthReport } from '../shared/services/health.js';

/**
 * GET /api/health (anonymous): liveness plus storage, Service Bus and Graph checks.
 * 200 {status: 'ok'} or 503 {status: 'degraded'} with a short reason per failing check.
 */

const CHECK_TIMEOUT_MS = 3_000;
const START_TIMEOUT_MS = 10_000;
const SHARED_FOR_MS = 10_000;
/** A batch id no file can have (not hex): reading it is one cheap table round trip. */
const PROBE_BATCH_ID = 'health-probe';
const NO_STORE = { 'Cache-Control': 'no-store' };

const checks = new WeakMap<Runtime, () => Promise<HealthReport>>();

function checksOf(rt: Runtime): () => Promise<HealthReport> {
  let check = checks.get(rt);
  if (!check) {
    check = sharedHealthCheck(
      () =>
        checkHealth(
          {
            storage: () => rt.batches.get(PROBE_BATCH_ID),
            serviceBus: (abortSignal) => rt.queue.peekDeadLetters(QUEUES.import, { maxMessages: 1, abortSignal }),
            // Lowest priority: a health check never takes a request slot from the pipeline.
            graph: () => rt.graph.checkReachable({ priority: 'cleanup' }),
          },
          { timeoutMs: CHECK_TIMEOUT_MS },
        ).then((report) => {
          if (report.status !== 'ok') rt.log.warn({ event: EVENTS.healthDegraded, checks: report.checks }, 'health check: degraded');
          return report;
        }),
      SHARED_FOR_MS,
    );
    checks.set(rt, check);
  }
  return check;
}

async function started(): Promise<Runtime> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      runtime(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('start timed out'), { name: 'StartTimeout' })), START_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function health(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  let rt: Runtime;
  try {
    rt = await started();
  } catch (error) {
    return { status: 503, headers: NO_STORE, jsonBody: { status: 'degraded', reason: startupFailureReason(error), checks: {} } };
  }
  const report = await checksOf(rt)();
  return { status: report.status === 'ok' ? 200 : 503, headers: NO_STORE, jsonBody: report };
}

export const healthOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'health',
  authLevel: 'anonymous',
  handler: health,
};

app.http('health', healthOptions);
