import { ledgerGeometry } from '../../shared/adapters/graph/budget-ledger.js';
import { tableBudgetSettingsFrom, type BudgetLimits } from '../../shared/adapters/graph/index.js';
import { loadConfig, type AppConfig } from '../../shared/config.js';
import { graphPolicy } from '../../shared/policies.js';
import type { PipelineOptions } from './options.js';
import { BENCH_SUPPLIER, SIMULATOR_TOKEN } from './workload.js';

/** The app settings the product runs with, and what the app makes of them. */

export function productSettings(options: PipelineOptions, graphBaseUrl: string): Record<string, string> {
  return {
    ZTP_SUPPLIERS: JSON.stringify([BENCH_SUPPLIER]),
    GRAPH_BASE_URL: graphBaseUrl,
    GRAPH_STATIC_TOKEN: SIMULATOR_TOKEN,
    ZTP_TIME_SCALE: String(options.scale),
    LOG_LEVEL: 'info',
    ...options.overrides,
  };
}

/**
 * The config the product will build from those settings (the product processes load the same
 * way, with the real connection strings): read before the run for the floor and the header,
 * so that they show the budget the app applies rather than a copy of its defaults.
 */
export function productConfig(options: PipelineOptions): AppConfig {
  return loadConfig({
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection:
      'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;',
    REPROVISION_WEBHOOK_SECRET: 'bench-pipeline-placeholder-secret',
    ...productSettings(options, 'http://127.0.0.1:1'),
  });
}

/** The budget as the app applies it, on the simulated clock. */
export interface AppliedBudget {
  /** What the budget grants (Graph's limits less the headroom), its window in simulated ms. */
  limits: BudgetLimits;
  /** Graph's limits as the settings give them (GRAPH_WRITES_PER_20S, GRAPH_REQUESTS_PER_20S). */
  graphLimits: { writesPerWindow: number; requestsPerWindow: number };
  /**
   * Simulated ms over which the budget counts its grants: the window plus the slots' lease time,
   * the clock tolerance and one bucket, so that the limit holds in every true window.
   */
  spanMs: number;
}

/** The budget the runtime builds (shared/runtime.ts: the settings through graphPolicy, then tableBudgetSettingsFrom). */
export function productBudget(config: AppConfig): AppliedBudget {
  const { limits, leaseMs, clockToleranceMs } = tableBudgetSettingsFrom(graphPolicy(config));
  const geometry = ledgerGeometry(limits.windowMs, leaseMs, clockToleranceMs);
  // graphPolicy divides the durations by the time scale; the floor counts on the simulated clock.
  return {
    limits: { ...limits, windowMs: limits.windowMs * config.timeScale },
    graphLimits: { writesPerWindow: config.graph.writesPerWindow, requestsPerWindow: config.graph.requestsPerWindow },
    spanMs: geometry.span * geometry.bucketMs * config.timeScale,
  };
}
