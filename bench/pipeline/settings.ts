import { budgetLimitsFrom, type BudgetLimits } from '../../shared/adapters/graph/index.js';
import { loadConfig, type AppConfig } from '../../shared/config.js';
import type { PipelineOptions } from './options.js';
import { SIMULATOR_TOKEN } from './simulator.js';
import { BENCH_SUPPLIER } from './workload.js';

/** The app settings the product runs with, and the config it makes of them. */

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

export function productBudget(config: AppConfig): BudgetLimits {
  return budgetLimitsFrom(config.graph);
}
