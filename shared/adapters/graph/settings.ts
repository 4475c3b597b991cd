import type { BudgetLimits, BudgetPriority } from './budget.js';

/**
 * What the product's config module hands the Graph adapter, one field per setting it reads
 * (the others are fixed). Durations are real milliseconds: the runtime divides the budget window,
 * sync interval and default Retry-After by ZTP_TIME_SCALE when the simulator's clock runs fast.
 */
export interface GraphSettings {
  /** GRAPH_BASE_URL: Graph's root, without version. */
  baseUrl: string;
  /** GRAPH_STATIC_TOKEN: a fixed bearer token for simulators; when set, no Azure credential is used. */
  staticToken?: string;
  /**
   * GRAPH_TOKEN_SCOPE, or the one derived from the host of a national cloud's Graph: what the
   * Azure credential is asked for. Absent only with a static token.
   */
  tokenScope?: string;
  /** GRAPH_WRITES_PER_20S: the limit Graph enforces on non-GET requests per window, per app per tenant. */
  writesPerWindow: number;
  /** GRAPH_REQUESTS_PER_20S: the limit Graph enforces on all requests per window, per app per tenant. */
  requestsPerWindow: number;
  /**
   * GRAPH_BUDGET_HEADROOM: the fraction of both limits the app leaves unused, across all
   * instances (for whatever else calls Graph as this app, and for Graph's own counting).
   */
  budgetHeadroom: number;
  /**
   * GRAPH_BUDGET_CLOCK_TOLERANCE_MS: how far apart the clocks of the instances may be, plus
   * the spread of the time a granted request takes to reach Graph; the budget's guarantee
   * holds within it, and every window of grants is stretched by it.
   */
  budgetClockToleranceMs: number;
  /** Fixed: how long slots an instance leased may be used; every window of grants is stretched by it too. */
  budgetLeaseMs: number;
  /** Fixed at 20 s, the window Graph's documented limits are counted in. */
  budgetWindowMs: number;
  /** Fixed: fraction of each window a priority may use; `import` keeps what the others may not touch. */
  priorityShares: Record<BudgetPriority, number>;
  /** GRAPH_REQUEST_TIMEOUT_MS: every request is abandoned after this long (a transient failure). */
  requestTimeoutMs: number;
  /** GRAPH_IMPORT_CHUNK_SIZE: devices per import request (Graph's maximum is undocumented). */
  importChunkSize: number;
  /** GRAPH_SYNC_INTERVAL_SECONDS: at most one Autopilot sync per interval across the app (Graph: 10 minutes). */
  syncIntervalMs: number;
  /** GRAPH_DEFAULT_RETRY_AFTER_SECONDS: delay handed back for a 429 that carries no Retry-After. */
  defaultRetryAfterMs: number;
  /**
   * GRAPH_PAGE_SIZE: page size asked for with $top when listing. The most Graph gives per
   * page varies by API and is not documented for these; a larger ask is capped by the
   * service, and one that refuses $top (400) is listed with its default pages.
   */
  pageSize: number;
  /** Fixed: a safety cap on pages followed by one listing or serial scan. */
  maxPages: number;
}

/**
 * Defaults: the stricter documented Intune bucket (100 writes / 1000 requests per 20 s per
 * app per tenant) of which the budget grants 90%, a chunk size well under the portal's 500
 * rows, Graph's 10-minute sync rule.
 */
export const GRAPH_SETTINGS_DEFAULTS: GraphSettings = {
  baseUrl: 'https://graph.microsoft.com',
  tokenScope: 'https://graph.microsoft.com/.default',
  writesPerWindow: 100,
  requestsPerWindow: 1000,
  budgetHeadroom: 0.1,
  budgetClockToleranceMs: 1_000,
  budgetLeaseMs: 1_000,
  budgetWindowMs: 20_000,
  priorityShares: { import: 1, status: 0.75, cleanup: 0.5 },
  requestTimeoutMs: 30_000,
  importChunkSize: 100,
  syncIntervalMs: 10 * 60_000,
  defaultRetryAfterMs: 20_000,
  pageSize: 999,
  maxPages: 500,
};

/** The settings the client itself uses; the budget's go to the RequestBudget through budgetLimitsFrom. */
export type GraphClientSettings = Omit<
  GraphSettings,
  | 'writesPerWindow'
  | 'requestsPerWindow'
  | 'budgetHeadroom'
  | 'budgetClockToleranceMs'
  | 'budgetLeaseMs'
  | 'budgetWindowMs'
  | 'priorityShares'
>;

/** What the budget grants of a limit Graph enforces: the headroom off, rounded down. */
export function withHeadroom(limit: number, headroom: number): number {
  return Math.floor(limit * (1 - headroom));
}

/** Budget limits as the settings describe them: Graph's limits less the headroom. */
export function budgetLimitsFrom(settings: GraphSettings): BudgetLimits {
  return {
    writesPerWindow: withHeadroom(settings.writesPerWindow, settings.budgetHeadroom),
    requestsPerWindow: withHeadroom(settings.requestsPerWindow, settings.budgetHeadroom),
    windowMs: settings.budgetWindowMs,
    shares: settings.priorityShares,
  };
}

/** Everything the table budget takes from the settings. */
export function tableBudgetSettingsFrom(settings: GraphSettings): { limits: BudgetLimits; clockToleranceMs: number; leaseMs: number } {
  return { limits: budgetLimitsFrom(settings), clockToleranceMs: settings.budgetClockToleranceMs, leaseMs: settings.budgetLeaseMs };
}
