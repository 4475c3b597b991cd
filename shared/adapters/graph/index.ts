/**
 * The product's one Microsoft Graph module: typed Autopilot / Intune operations over
 * @microsoft/microsoft-graph-client, a tenant-wide request budget, and typed results instead of
 * exceptions. Nothing else in the product imports the Graph SDK.
 */
export { createGraphClient, createGraphClientFromSettings, type GraphClientOptions } from './client.js';
export type { GraphClient } from './graph-client.js';
export { retryAfter } from './call.js';
export { createInMemoryBudget, type BudgetLimits, type BudgetRequest, type RequestBudget, type SyncClaim } from './budget.js';
export { graphRequestCounts, resetGraphRequestCounts, type GraphRequestCounts } from './graph-metrics.js';
export { createTableBudget } from './table-budget.js';
export { budgetLimitsFrom, GRAPH_SETTINGS_DEFAULTS, tableBudgetSettingsFrom, type GraphSettings } from './settings.js';
