import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../../shared/errors.js';
import { checkHealth, failureReason, startupFailureReason, whenStarted, type HealthProbes } from '../../../shared/services/health.js';

describe('checkHealth', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Under fake timers Date.now is the fake clock, so a check's duration is exactly the time advanced.
  const fakeClock = (): Date => new Date();
  const after = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  const ok: HealthProbes = {
    storage: async () => undefined,
    serviceBus: async () => [],
    graph: async () => ({ ok: true, value: undefined }),
  };

  it('is ok when every dependency answers, and times each check on its own', async () => {
    vi.useFakeTimers();
    const running = checkHealth(
      {
        storage: () => after(10),
        serviceBus: () => after(20).then(() => []),
        graph: () => after(30).then(() => ({ ok: true, value: undefined })),
      },
      { timeoutMs: 1000, clock: fakeClock },
    );
    await vi.advanceTimersByTimeAsync(30);
    const report = await running;
    expect(report.status).toBe('ok');
    expect(report.checks).toEqual({ storage: { ok: true, ms: 10 }, serviceBus: { ok: true, ms: 20 }, graph: { ok: true, ms: 30 } });
  });

  it('counts a throttled Graph as reachable', async () => {
    const report = await checkHealth(
      { ...ok, graph: async () => ({ ok: false, kind: 'throttled', retryAfterMs: 1000, source: 'graph' }) },
      { timeoutMs: 1000 },
    );
    expect(report.status).toBe('ok');
    expect(report.checks.graph).toMatchObject({ ok: true, reason: 'throttled by Graph (429)' });
  });

  it('is degraded with a short reason per failing check, never the error message', async () => {
    vi.useFakeTimers();
    const secret = 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=c2VjcmV0';
    const running = checkHealth(
      {
        storage: async () => {
          throw Object.assign(new Error(`connect failed for ${secret}`), { code: 'ECONNREFUSED' });
        },
        serviceBus: () => new Promise(() => undefined),
        graph: async () => ({ ok: false, kind: 'permanent', status: 403, code: 'Forbidden', message: secret }),
      },
      { timeoutMs: 100, clock: fakeClock },
    );
    await vi.advanceTimersByTimeAsync(100);
    const report = await running;
    expect(report.status).toBe('degraded');
    expect(report.checks.storage).toEqual({ ok: false, ms: 0, reason: 'failed (ECONNREFUSED)' });
    // The check that never answers is given up at its budget, to the millisecond.
    expect(report.checks.serviceBus).toEqual({ ok: false, ms: 100, reason: 'no answer within 100 ms' });
    expect(report.checks.graph).toEqual({ ok: false, ms: 0, reason: 'answered 403 Forbidden' });
    expect(JSON.stringify(report)).not.toContain('AccountKey');
  });

  it('aborts a probe that runs out of time, and not before', async () => {
    vi.useFakeTimers();
    let aborted = false;
    const running = checkHealth(
      {
        ...ok,
        serviceBus: (signal) =>
          new Promise(() => {
            signal.addEventListener('abort', () => (aborted = true));
          }),
      },
      { timeoutMs: 50, clock: fakeClock },
    );
    await vi.advanceTimersByTimeAsync(49);
    expect(aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(aborted).toBe(true);
    expect((await running).checks.serviceBus).toMatchObject({ ok: false, ms: 50 });
  });

  it('describes errors by status, code or type only', () => {
    expect(failureReason(Object.assign(new Error('x'), { statusCode: 503 }))).toBe('answered 503');
    expect(failureReason(Object.assign(new Error('x'), { code: 'ServiceCommunicationProblem' }))).toBe(
      'failed (ServiceCommunicationProblem)',
    );
    expect(failureReason(new TypeError('secret inside'))).toBe('failed (TypeError)');
    expect(failureReason(new Error('secret inside'))).toBe('failed');
    expect(failureReason('text')).toBe('failed');
    expect(startupFailureReason(new ConfigError('AzureWebJobsStorage', 'is required'))).toBe(
      'setting AzureWebJobsStorage is missing or invalid',
    );
  });
});

describe('whenStarted', () => {
  it('hands over the started app', async () => {
    expect(await whenStarted(async () => 'app', 1000)).toEqual({ ok: true, value: 'app' });
  });

  it('names the setting of a configuration error, and nothing of any other error', async () => {
    const config = await whenStarted(() => Promise.reject(new ConfigError('ZTP_SUPPLIERS', 'must be JSON: AccountKey=x')), 1000);
    expect(config).toEqual({ ok: false, reason: 'setting ZTP_SUPPLIERS is missing or invalid' });
    const other = await whenStarted(() => Promise.reject(new Error('connect to AccountKey=x failed')), 1000);
    expect(other).toEqual({ ok: false, reason: 'the app could not start: failed' });
  });

  it('gives up on a start that takes too long', async () => {
    vi.useFakeTimers();
    const waiting = whenStarted(() => new Promise<never>(() => undefined), 10_000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await waiting).toEqual({ ok: false, reason: 'the app could not start: start-up within 10000 ms' });
    vi.useRealTimers();
  });
});
