/**
 * The product's one Microsoft Graph module: typed Autopilot / Intune operations over
 * @microsoft/microsoft-graph-client, a tenant-wide request budget, and typed results instead of
 * exceptions. Nothing else in the product imports the Graph SDK.
 */
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { BudgetLimits, RequestBudget } from './budget.js';
import { createGraphClient, type GraphClient } from './client.js';
import type { GraphSettings } from './settings.js';

export { createGraphClient, retryAfter, type GraphClient, type GraphClientOptions, type CallOptions, type ImportResult } from './client.js';
export {
  createInMemoryBudget,
  type BudgetDecision,
  type BudgetLimits,
  type BudgetPriority,
  type BudgetRequest,
  type InMemoryBudgetOptions,
  type RequestBudget,
  type RequestKind,
} from './budget.js';
export { createTableBudget, type TableBudgetOptions } from './table-budget.js';
export { GRAPH_SCOPE, GRAPH_SETTINGS_DEFAULTS, type GraphSettings } from './settings.js';
export type { GraphFailure, GraphResult } from './result.js';
export type * from './types.js';

/** Budget limits as the settings describe them. */
export function budgetLimitsFrom(settings: GraphSettings): BudgetLimits {
  return {
    writesPerWindow: settings.writesPerWindow,
    requestsPerWindow: settings.requestsPerWindow,
    windowMs: settings.budgetWindowMs,
    shares: settings.priorityShares,
  };
}

/**
 * The client the app uses: the static token when configured (simulators), otherwise the given
 * credential or DefaultAzureCredential (managed identity in Azure).
 */
export function createGraphClientFromSettings(settings: GraphSettings, budget: RequestBudget, credential?: TokenCredential): GraphClient {
  const auth =
    settings.staticToken !== undefined ? { staticToken: settings.staticToken } : { credential: credential ?? new DefaultAzureCredential() };
  return createGraphClient({
    baseUrl: settings.baseUrl,
    ...auth,
    budget,
    requestTimeoutMs: settings.requestTimeoutMs,
    importChunkSize: settings.importChunkSize,
    syncIntervalMs: settings.syncIntervalMs,
    defaultRetryAfterMs: settings.defaultRetryAfterMs,
    pageSize: settings.pageSize,
    maxPages: settings.maxPages,
    caCertPem: settings.caCertPem,
  });
}
