import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { supplierPoliciesFromSetting, type SupplierPolicy } from './domain/suppliers.js';
// The settings module alone: configuration loads no SDK.
import { GRAPH_SETTINGS_DEFAULTS, withHeadroom, type GraphSettings } from './adapters/graph/settings.js';
import {
  graphTokenScopeOf,
  hostOf,
  isLoopbackHost,
  isMicrosoftGraphHost,
  microsoftGraphCloudOf,
  MICROSOFT_GRAPH_CLOUDS,
  normalisedHost,
} from './adapters/graph/clouds.js';
import { webhookKeys } from './http/webhook-signature.js';
import type { StorageSettings } from './adapters/storage-settings.js';

/**
 * Every setting, read and validated once. A bad or missing setting fails start-up with a
 * ConfigError that names it. Durations are given in real-world units and divided by
 * ZTP_TIME_SCALE where the pipeline uses them (`shared/policies.ts`).
 */

export interface AppConfig {
  readonly storage: StorageSettings;
  readonly serviceBus: { readonly connectionString: string } | { readonly fullyQualifiedNamespace: string };
  /** Real-world durations; the runtime scales the budget window, sync interval and default Retry-After. */
  readonly graph: GraphSettings;
  /** HMAC keys of the re-provisioning webhook, in the setting's order (the first is the one senders are given). */
  readonly webhookKeys: readonly Buffer[];
  readonly suppliers: readonly SupplierPolicy[];
  readonly timeScale: number;
  readonly intake: {
    readonly maxFileBytes: number;
    readonly maxRows: number;
    readonly importChunkSize: number;
    /** Prefix of the import ids this deployment creates. */
    readonly importIdPrefix: string;
    /** A file still being recorded this long (real ms) has stopped: the sweeper runs its intake again. */
    readonly stuckMs: number;
  };
  readonly pipeline: {
    readonly importDeadlineMs: number;
    readonly profileDeadlineMs: number;
    readonly enrolmentDeadlineMs: number;
    readonly reprovisionDeadlineMs: number;
    readonly firstPollMs: number;
    readonly importPollMs: number;
    readonly maxPollIntervalMs: number;
    readonly retagSettleMs: number;
    readonly firstRetryMs: number;
    readonly maxRetryMs: number;
    readonly maxTransientRetries: number;
    /** Below this many waiting devices, per-device reads replace a listing of the tenant. */
    readonly perDeviceReadLimit: number;
  };
  readonly logLevel: string;
  readonly health: {
    /** How old a dependency check may be before the next caller takes a new one (real ms; not scaled). */
    readonly probeIntervalMs: number;
  };
  /** Whether the service desk's re-provisioning webhook takes requests (the Graph permissions it needs are granted with it). */
  readonly reprovisioning: { readonly enabled: boolean };
}

type Env = Readonly<Record<string, string | undefined>>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function required(env: Env, name: string, hint: string): string {
  const value = text(env, name);
  if (value === undefined) throw new ConfigError(name, `is required (${hint})`);
  return value;
}

function positiveNumber(env: Env, name: string, fallback: number, options: { integer?: boolean; max?: number } = {}): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (options.integer && !Number.isInteger(value))) {
    throw new ConfigError(name, `must be a positive ${options.integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  if (options.max !== undefined && value > options.max) throw new ConfigError(name, `must be at most ${options.max}, got ${value}`);
  return value;
}

/** A whole number, zero allowed. */
function nonNegativeInteger(env: Env, name: string, fallback: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(name, `must be a whole number, 0 or more, got "${raw}"`);
  if (value > max) throw new ConfigError(name, `must be at most ${max}, got ${value}`);
  return value;
}

/**
 * The Graph budget: the limits Graph enforces, the share of them left unused, and how far
 * apart the instances' clocks may be.
 */
function graphBudget(env: Env): Pick<GraphSettings, 'writesPerWindow' | 'requestsPerWindow' | 'budgetHeadroom' | 'budgetClockToleranceMs'> {
  const writesPerWindow = positiveNumber(env, 'GRAPH_WRITES_PER_20S', GRAPH_SETTINGS_DEFAULTS.writesPerWindow, { integer: true });
  const requestsPerWindow = positiveNumber(env, 'GRAPH_REQUESTS_PER_20S', GRAPH_SETTINGS_DEFAULTS.requestsPerWindow, { integer: true });
  const raw = text(env, 'GRAPH_BUDGET_HEADROOM');
  const budgetHeadroom = raw === undefined ? GRAPH_SETTINGS_DEFAULTS.budgetHeadroom : Number(raw);
  if (!Number.isFinite(budgetHeadroom) || budgetHeadroom < 0 || budgetHeadroom >= 1) {
    throw new ConfigError('GRAPH_BUDGET_HEADROOM', `must be a fraction from 0 up to (not including) 1, got "${raw}"`);
  }
  for (const [setting, limit] of [
    ['GRAPH_WRITES_PER_20S', writesPerWindow],
    ['GRAPH_REQUESTS_PER_20S', requestsPerWindow],
  ] as const) {
    if (withHeadroom(limit, budgetHeadroom) < 1) {
      throw new ConfigError(
        'GRAPH_BUDGET_HEADROOM',
        `${budgetHeadroom} leaves nothing of ${setting}=${limit} to send: lower the headroom or raise the limit`,
      );
    }
  }
  // Half a window or more would cost the budget a third of its throughput or more: a clock that far off needs fixing.
  const budgetClockToleranceMs = nonNegativeInteger(
    env,
    'GRAPH_BUDGET_CLOCK_TOLERANCE_MS',
    GRAPH_SETTINGS_DEFAULTS.budgetClockToleranceMs,
    GRAPH_SETTINGS_DEFAULTS.budgetWindowMs / 2,
  );
  return { writesPerWindow, requestsPerWindow, budgetHeadroom, budgetClockToleranceMs };
}

function url(env: Env, name: string, fallback: string): string {
  const raw = text(env, name) ?? fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be an absolute http(s) URL, got "${raw}"`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ConfigError(name, `must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

const STORAGE = 'AzureWebJobsStorage';
/** The services the product's own clients use: blobs (files, reports), tables (state), queues (the blob trigger's poison queue). */
const STORAGE_SERVICES = ['blob', 'table', 'queue'] as const;

function storageSettings(env: Env): StorageSettings {
  const connectionString = text(env, STORAGE);
  if (connectionString) return { connectionString };
  const account = text(env, `${STORAGE}__accountName`);
  if (account !== undefined && !/^[a-z0-9]{3,24}$/.test(account)) {
    throw new ConfigError(
      `${STORAGE}__accountName`,
      `must be a storage account name (3-24 lower-case letters and digits), got "${account}"`,
    );
  }
  if (account === undefined && !STORAGE_SERVICES.some((service) => text(env, `${STORAGE}__${service}ServiceUri`))) {
    throw new ConfigError(
      STORAGE,
      `is required: a connection string, or ${STORAGE}__accountName (or the blob, table and queue service URIs) for an identity-based connection`,
    );
  }
  const serviceUri = (service: (typeof STORAGE_SERVICES)[number]): string => {
    const name = `${STORAGE}__${service}ServiceUri`;
    // The account name alone names the public cloud's endpoints, as it does for the Functions host.
    const fallback = account === undefined ? undefined : `https://${account}.${service}.core.windows.net`;
    if (text(env, name) === undefined && fallback === undefined) {
      throw new ConfigError(
        name,
        `is required with an identity-based connection (the product uses blobs, tables and queues), unless ${STORAGE}__accountName is set`,
      );
    }
    return url(env, name, fallback ?? '');
  };
  const uris = { blob: serviceUri('blob'), table: serviceUri('table'), queue: serviceUri('queue') };
  const credential = text(env, `${STORAGE}__credential`);
  if (credential !== undefined && credential.toLowerCase() !== 'managedidentity') {
    throw new ConfigError(`${STORAGE}__credential`, `must be "managedidentity" or unset, got "${credential}"`);
  }
  return {
    blobServiceUri: uris.blob,
    tableServiceUri: uris.table,
    queueServiceUri: uris.queue,
    credential: credential === undefined ? undefined : 'managedidentity',
    clientId: text(env, `${STORAGE}__clientId`),
  };
}

const MICROSOFT_GRAPH_HOSTS = MICROSOFT_GRAPH_CLOUDS.map((cloud) => cloud.host).join(', ');

/** GRAPH_SIMULATOR_HOSTS: host names, normalised; never one of Microsoft Graph's. */
function simulatorHosts(env: Env): ReadonlySet<string> {
  const hosts = new Set<string>();
  const raw = text(env, 'GRAPH_SIMULATOR_HOSTS');
  if (raw === undefined) return hosts;
  for (const entry of raw.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(`http://${entry}`);
    } catch {
      parsed = undefined;
    }
    const bare =
      parsed && !parsed.port && !parsed.username && !parsed.password && parsed.pathname === '/' && !parsed.search && !parsed.hash;
    if (!parsed || !bare || entry.includes('/')) {
      throw new ConfigError('GRAPH_SIMULATOR_HOSTS', `must be host names separated by commas (no scheme, port or path), got "${entry}"`);
    }
    const host = normalisedHost(parsed.hostname);
    if (isMicrosoftGraphHost(host)) {
      throw new ConfigError(
        'GRAPH_SIMULATOR_HOSTS',
        `must not name Microsoft Graph (${host}): a static token and a time scale are for simulators only`,
      );
    }
    hosts.add(host);
  }
  return hosts;
}

interface GraphEndpoint {
  readonly baseUrl: string;
  readonly simulator: boolean;
  readonly staticToken: string | undefined;
  readonly tokenScope: string | undefined;
}

/**
 * GRAPH_BASE_URL and what its host allows: a static token only for a simulator (a loopback
 * host, or one listed in GRAPH_SIMULATOR_HOSTS, never Microsoft Graph's), and otherwise the
 * token scope of its national cloud or GRAPH_TOKEN_SCOPE.
 */
function graphEndpoint(env: Env): GraphEndpoint {
  const baseUrl = url(env, 'GRAPH_BASE_URL', GRAPH_SETTINGS_DEFAULTS.baseUrl);
  const host = hostOf(baseUrl);
  const listed = simulatorHosts(env);
  const microsoft = isMicrosoftGraphHost(host);
  const simulator = !microsoft && (isLoopbackHost(host) || listed.has(host));
  const staticToken = text(env, 'GRAPH_STATIC_TOKEN');
  if (staticToken !== undefined && !simulator) {
    throw new ConfigError(
      'GRAPH_STATIC_TOKEN',
      microsoft
        ? `is only for simulators; unset it when GRAPH_BASE_URL is Microsoft Graph (${host})`
        : `is only for simulators: GRAPH_BASE_URL's host ${host} is not a loopback address; list it in GRAPH_SIMULATOR_HOSTS if it is a simulator`,
    );
  }
  const cloud = microsoftGraphCloudOf(host);
  const explicitScope = text(env, 'GRAPH_TOKEN_SCOPE');
  if (explicitScope !== undefined) {
    if (!/^\S+\/\.default$/.test(explicitScope)) {
      throw new ConfigError('GRAPH_TOKEN_SCOPE', `must be an app-only scope ending in /.default, got "${explicitScope}"`);
    }
    if (cloud !== undefined && explicitScope !== graphTokenScopeOf(cloud)) {
      throw new ConfigError(
        'GRAPH_TOKEN_SCOPE',
        `is "${explicitScope}" but GRAPH_BASE_URL is the ${cloud.cloud} Graph, whose tokens are asked for with "${graphTokenScopeOf(cloud)}" (a token of one cloud is refused by another); unset it or make them agree`,
      );
    }
  }
  const tokenScope = explicitScope ?? (cloud === undefined ? undefined : graphTokenScopeOf(cloud));
  if (tokenScope === undefined && staticToken === undefined) {
    throw new ConfigError(
      'GRAPH_TOKEN_SCOPE',
      `is required when GRAPH_BASE_URL (host ${host}) is not one of Microsoft Graph's national clouds (${MICROSOFT_GRAPH_HOSTS}), whose scope is known: set GRAPH_TOKEN_SCOPE to the scope its tokens are asked for, or correct GRAPH_BASE_URL`,
    );
  }
  return { baseUrl, simulator, staticToken, tokenScope };
}

function importIdPrefix(env: Env): string {
  const value = text(env, 'ZTP_IMPORT_ID_PREFIX') ?? 'ztp-';
  if (!/^[A-Za-z0-9-]{1,32}$/.test(value)) throw new ConfigError('ZTP_IMPORT_ID_PREFIX', 'must be 1-32 letters, digits or hyphens');
  return value;
}

export function loadConfig(env: Env = process.env): AppConfig {
  const storage = storageSettings(env);
  const sbConnection = text(env, 'ServiceBusConnection');
  const sbNamespace = text(env, 'ServiceBusConnection__fullyQualifiedNamespace');
  if (!sbConnection && !sbNamespace) {
    throw new ConfigError(
      'ServiceBusConnection',
      'is required (a connection string, or ServiceBusConnection__fullyQualifiedNamespace for managed identity)',
    );
  }
  const graph = graphEndpoint(env);
  const webhookSecret = required(
    env,
    'REPROVISION_WEBHOOK_SECRET',
    'the shared HMAC secret of the re-provisioning webhook, or several separated by commas while rotating',
  );
  let keys: Buffer[];
  try {
    keys = webhookKeys(webhookSecret);
  } catch (error) {
    throw new ConfigError('REPROVISION_WEBHOOK_SECRET', error instanceof Error ? error.message : String(error));
  }

  let suppliers: readonly SupplierPolicy[];
  try {
    suppliers = loadSupplierPolicies(required(env, 'ZTP_SUPPLIERS', 'the supplier policy as JSON, inline or a file path'));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError('ZTP_SUPPLIERS', error instanceof Error ? error.message : String(error));
  }

  const timeScale = positiveNumber(env, 'ZTP_TIME_SCALE', 1, { max: 1_000_000 });
  // It divides the budget window and every deadline: against a real Graph that means bursts
  // over the documented limits and devices stalled long before Autopilot could answer.
  if (timeScale !== 1 && !graph.simulator) {
    throw new ConfigError(
      'ZTP_TIME_SCALE',
      `must be 1 unless GRAPH_BASE_URL is a simulator (a loopback host, or one listed in GRAPH_SIMULATOR_HOSTS), got ${timeScale} with host ${hostOf(graph.baseUrl)}`,
    );
  }
  return {
    storage,
    serviceBus: sbConnection ? { connectionString: sbConnection } : { fullyQualifiedNamespace: sbNamespace! },
    graph: {
      // The window, lease time, priority shares and page cap have no setting.
      ...GRAPH_SETTINGS_DEFAULTS,
      baseUrl: graph.baseUrl,
      ...(graph.staticToken !== undefined ? { staticToken: graph.staticToken } : {}),
      tokenScope: graph.tokenScope,
      ...graphBudget(env),
      requestTimeoutMs: positiveNumber(env, 'GRAPH_REQUEST_TIMEOUT_MS', GRAPH_SETTINGS_DEFAULTS.requestTimeoutMs, { integer: true }),
      importChunkSize: positiveNumber(env, 'GRAPH_IMPORT_CHUNK_SIZE', GRAPH_SETTINGS_DEFAULTS.importChunkSize, { integer: true, max: 500 }),
      pageSize: positiveNumber(env, 'GRAPH_PAGE_SIZE', GRAPH_SETTINGS_DEFAULTS.pageSize, { integer: true, max: 999 }),
      syncIntervalMs: positiveNumber(env, 'GRAPH_SYNC_INTERVAL_SECONDS', GRAPH_SETTINGS_DEFAULTS.syncIntervalMs / 1000) * 1000,
      defaultRetryAfterMs:
        positiveNumber(env, 'GRAPH_DEFAULT_RETRY_AFTER_SECONDS', GRAPH_SETTINGS_DEFAULTS.defaultRetryAfterMs / 1000) * 1000,
    },
    webhookKeys: keys,
    suppliers,
    timeScale,
    intake: {
      // 50,000 rows of ~4 KB hashes are ~200 MB in UTF-8 and twice that in UTF-16.
      maxFileBytes: positiveNumber(env, 'ZTP_MAX_FILE_BYTES', 512 * 1024 * 1024, { integer: true }),
      maxRows: positiveNumber(env, 'ZTP_MAX_ROWS', 100_000, { integer: true }),
      importChunkSize: positiveNumber(env, 'ZTP_IMPORT_CHUNK_SIZE', 100, { integer: true, max: 500 }),
      importIdPrefix: importIdPrefix(env),
      // Recording is real work, not Autopilot's clock: ZTP_TIME_SCALE leaves it alone.
      stuckMs: positiveNumber(env, 'ZTP_INTAKE_STUCK_MINUTES', 30) * MINUTE,
    },
    pipeline: {
      importDeadlineMs: positiveNumber(env, 'ZTP_IMPORT_DEADLINE_MINUTES', 120) * MINUTE,
      profileDeadlineMs: positiveNumber(env, 'ZTP_PROFILE_DEADLINE_HOURS', 72) * HOUR,
      enrolmentDeadlineMs: positiveNumber(env, 'ZTP_ENROLMENT_DEADLINE_DAYS', 60) * DAY,
      reprovisionDeadlineMs: positiveNumber(env, 'ZTP_REPROVISION_DEADLINE_HOURS', 24) * HOUR,
      firstPollMs: positiveNumber(env, 'ZTP_FIRST_POLL_SECONDS', 60) * 1000,
      importPollMs: positiveNumber(env, 'ZTP_IMPORT_POLL_SECONDS', 10) * 1000,
      maxPollIntervalMs: positiveNumber(env, 'ZTP_MAX_POLL_INTERVAL_MINUTES', 360) * MINUTE,
      retagSettleMs: positiveNumber(env, 'ZTP_RETAG_SETTLE_MINUTES', 30) * MINUTE,
      firstRetryMs: positiveNumber(env, 'ZTP_FIRST_RETRY_SECONDS', 30) * 1000,
      maxRetryMs: positiveNumber(env, 'ZTP_MAX_RETRY_MINUTES', 30) * MINUTE,
      maxTransientRetries: positiveNumber(env, 'ZTP_MAX_TRANSIENT_RETRIES', 8, { integer: true }),
      perDeviceReadLimit: positiveNumber(env, 'ZTP_PER_DEVICE_READ_LIMIT', 20, { integer: true }),
    },
    logLevel: text(env, 'LOG_LEVEL') ?? 'info',
    health: {
      probeIntervalMs: positiveNumber(env, 'ZTP_HEALTH_PROBE_SECONDS', 60, { max: 3600 }) * 1000,
    },
    reprovisioning: { enabled: flag(env, 'ZTP_REPROVISIONING_ENABLED', true) },
  };
}

/** ZTP_SUPPLIERS as the app and the CLI read it: the JSON itself, or the path of a JSON file. */
export function loadSupplierPolicies(value: string | undefined): SupplierPolicy[] {
  return supplierPoliciesFromSetting(value, (path) => readFileSync(path, 'utf8'));
}

let cached: AppConfig | undefined;

/** The process-wide configuration, validated on first use. */
export function appConfig(): AppConfig {
  cached ??= loadConfig();
  return cached;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (/^true$/i.test(raw)) return true;
  if (/^false$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}
