import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { graphPolicy, sweeperPolicy } from '../../shared/policies.js';

describe('sweeperPolicy', () => {
  const env = {
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection: 'Endpoint=sb://localhost/;SharedAccessKeyName=k;SharedAccessKey=v',
    REPROVISION_WEBHOOK_SECRET: 'x'.repeat(32),
    ZTP_SUPPLIERS: '[{"id":"contoso","name":"Contoso"}]',
  };

  it('waits ten first polls before re-queueing, scaled, but never less than a real minute', () => {
    expect(sweeperPolicy(loadConfig(env)).requeueAfterMs).toBe(10 * 60_000);
    const simulator = { GRAPH_BASE_URL: 'http://127.0.0.1:8080', GRAPH_STATIC_TOKEN: 'sim-token', ZTP_TIME_SCALE: '600' };
    expect(sweeperPolicy(loadConfig({ ...env, ...simulator })).requeueAfterMs).toBe(60_000);
    expect(sweeperPolicy(loadConfig({ ...env, ...simulator })).reviveDelayMs).toBe(100);
  });
});

describe('graphPolicy', () => {
  const env = {
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection: 'Endpoint=sb://localhost/;SharedAccessKeyName=k;SharedAccessKey=v',
    REPROVISION_WEBHOOK_SECRET: 'x'.repeat(32),
    ZTP_SUPPLIERS: '[{"id":"contoso","name":"Contoso"}]',
  };
  const simulator = { GRAPH_BASE_URL: 'http://127.0.0.1:8080', GRAPH_STATIC_TOKEN: 'sim-token' };

  it('scales the budget window, lease and tolerance with the time scale, the lease never below a Table write', () => {
    expect(graphPolicy(loadConfig(env))).toMatchObject({ budgetWindowMs: 20_000, budgetLeaseMs: 1_000, budgetClockToleranceMs: 1_000 });
    expect(graphPolicy(loadConfig({ ...env, ...simulator, ZTP_TIME_SCALE: '20' }))).toMatchObject({
      budgetWindowMs: 1_000,
      budgetLeaseMs: 250,
      budgetClockToleranceMs: 50,
    });
    expect(graphPolicy(loadConfig({ ...env, ...simulator, ZTP_TIME_SCALE: '600' }))).toMatchObject({
      budgetLeaseMs: 250,
      budgetClockToleranceMs: 1_000 / 600,
    });
  });
});
