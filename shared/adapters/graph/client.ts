import type { TokenCredential } from '@azure/identity';
import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import { z } from 'zod';
import type { BudgetPriority, RequestBudget } from './budget.js';
import { success, type GraphFailure, type GraphResult } from './result.js';
import { GRAPH_SCOPE, GRAPH_SETTINGS_DEFAULTS } from './settings.js';
import { BearerTokenMiddleware, credentialTokenSource, NodeHttpTransport, staticTokenSource } from './transport.js';
import type {
  AutopilotIdentity,
  DevicePropertiesUpdate,
  ImportDeviceInput,
  ImportedIdentity,
  ManagedDevice,
  ManagedDeviceAction,
  SyncOutcome,
} from './types.js';

export interface GraphClientOptions {
  /** Graph's root without version: https://graph.microsoft.com, or a simulator's http(s) URL. */
  baseUrl: string;
  /** A fixed bearer token (simulators). Exactly one of staticToken / credential. */
  staticToken?: string;
  /** Azure credential for real Graph; tokens are asked for https://graph.microsoft.com/.default. */
  credential?: TokenCredential;
  /** Checked before every request; shared by all instances in production (see createTableBudget). */
  budget: RequestBudget;
  requestTimeoutMs?: number;
  importChunkSize?: number;
  syncIntervalMs?: number;
  defaultRetryAfterMs?: number;
  pageSize?: number;
  maxPages?: number;
  caCertPem?: string;
}

/** Overrides the budget priority an operation uses by default. */
export interface CallOptions {
  priority?: BudgetPriority;
}

/**
 * Result of importDevices. Chunks are sent one after another; when one fails, the failure says
 * which devices Graph accepted before it (`imported`) and which were never submitted.
 */
export type ImportResult =
  { ok: true; value: ImportedIdentity[] } | (GraphFailure & { imported: ImportedIdentity[]; notSubmitted: ImportDeviceInput[] });

export interface GraphClient {
  /** POST importedWindowsAutopilotDeviceIdentities/import, in chunks of importChunkSize. Default priority: import. */
  importDevices(devices: readonly ImportDeviceInput[], options?: CallOptions): Promise<ImportResult>;
  /** Default priority: status. */
  getImportedIdentity(id: string, options?: CallOptions): Promise<GraphResult<ImportedIdentity>>;
  /**
   * Every page, with only what the pipeline reads back (no hardware hash, product key or
   * user: those come back empty). Default priority: status.
   */
  listImportedIdentities(options?: CallOptions): Promise<GraphResult<ImportedIdentity[]>>;
  /** Already gone counts as done: `{ deleted: false }`. Default priority: cleanup. */
  deleteImportedIdentity(id: string, options?: CallOptions): Promise<GraphResult<{ deleted: boolean }>>;
  /**
   * `contains(serialNumber,…)` then an exact (trimmed, case-insensitive) match on the client;
   * when Graph rejects the filter (400), or finds nothing for a serial with characters other than
   * letters and digits, every page is scanned instead. Default priority: status.
   */
  findAutopilotIdentityBySerial(serialNumber: string, options?: CallOptions): Promise<GraphResult<AutopilotIdentity | undefined>>;
  /** Every page, from /beta so each carries deploymentProfileAssignmentStatus. Default priority: status. */
  listAutopilotIdentities(options?: CallOptions): Promise<GraphResult<AutopilotIdentity[]>>;
  /** Read from /beta, so it carries deploymentProfileAssignmentStatus. Default priority: status. */
  getAutopilotIdentity(id: string, options?: CallOptions): Promise<GraphResult<AutopilotIdentity>>;
  /** Default priority: import (it finishes a registration). */
  updateDeviceProperties(id: string, update: DevicePropertiesUpdate, options?: CallOptions): Promise<GraphResult<void>>;
  /** Graph refuses while a managed device exists (permanent). Default priority: cleanup. */
  deleteAutopilotIdentity(id: string, options?: CallOptions): Promise<GraphResult<{ deleted: boolean }>>;
  /** At most one real call per syncIntervalMs across every instance; 409/429 mean "already done". Default priority: import. */
  syncAutopilot(options?: CallOptions): Promise<GraphResult<SyncOutcome>>;
  /** `serialNumber eq` plus an exact match; the most recently enrolled when several. Default priority: status. */
  findManagedDeviceBySerial(serialNumber: string, options?: CallOptions): Promise<GraphResult<ManagedDevice | undefined>>;
  getManagedDevice(id: string, options?: CallOptions): Promise<GraphResult<ManagedDevice>>;
  /** wipe / cleanWindowsDevice / retire. A POST: never repeated by the adapter. Default priority: import. */
  runManagedDeviceAction(id: string, action: ManagedDeviceAction, options?: CallOptions): Promise<GraphResult<void>>;
  /** Default priority: cleanup. */
  deleteManagedDevice(id: string, options?: CallOptions): Promise<GraphResult<{ deleted: boolean }>>;
  /** One cheap read, for health checks. Default priority: status. */
  checkReachable(options?: CallOptions): Promise<GraphResult<void>>;
  /** Releases pooled connections. */
  close(): void;
}

type Version = 'v1.0' | 'beta';
type Method = 'GET' | 'POST' | 'DELETE';

const IMPORTED = 'deviceManagement/importedWindowsAutopilotDeviceIdentities';
const IDENTITIES = 'deviceManagement/windowsAutopilotDeviceIdentities';
const MANAGED = 'deviceManagement/managedDevices';
const EMPTY_IDS = new Set(['', '00000000-0000-0000-0000-000000000000']);

const text = z
  .string()
  .nullish()
  .transform((v) => v ?? '');
const optionalText = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);
/** Graph writes "never" as 0001-01-01T00:00:00Z. */
const optionalDate = z
  .string()
  .nullish()
  .transform((v) => (v === null || v === undefined || v.startsWith('0001-01-01') ? undefined : v));
const optionalId = z
  .string()
  .nullish()
  .transform((v) => (v === null || v === undefined || EMPTY_IDS.has(v) ? undefined : v));

const importedSchema = z.object({
  id: z.string(),
  serialNumber: text,
  groupTag: text,
  importId: text,
  productKey: text,
  assignedUserPrincipalName: text,
  state: z.object({
    deviceImportStatus: z.enum(['unknown', 'pending', 'partial', 'complete', 'error']).catch('unknown'),
    deviceRegistrationId: text,
    deviceErrorCode: z
      .number()
      .nullish()
      .transform((v) => v ?? 0),
    deviceErrorName: text,
  }),
});

const identitySchema = z.object({
  id: z.string(),
  serialNumber: text,
  groupTag: text,
  manufacturer: text,
  model: text,
  enrollmentState: z.enum(['unknown', 'enrolled', 'pendingReset', 'failed', 'notContacted', 'blocked']).catch('unknown'),
  managedDeviceId: optionalId,
  azureActiveDirectoryDeviceId: optionalId,
  displayName: text,
  userPrincipalName: text,
  lastContactedDateTime: optionalDate,
  deploymentProfileAssignmentStatus: z
    .enum(['unknown', 'assignedInSync', 'assignedOutOfSync', 'assignedUnkownSyncState', 'notAssigned', 'pending', 'failed'])
    .optional()
    .catch('unknown'),
  deploymentProfileAssignedDateTime: optionalDate,
});

const managedSchema = z.object({
  id: z.string(),
  serialNumber: text,
  deviceName: text,
  azureADDeviceId: optionalId,
  enrolledDateTime: optionalDate,
  lastSyncDateTime: optionalDate,
  deviceActionResults: z
    .array(z.object({ actionName: text, actionState: text, startDateTime: optionalText, lastUpdatedDateTime: optionalText }))
    .nullish()
    .transform((v) => v ?? []),
});

/** What the pipeline reads of an imported record (importedSchema minus what it never uses back). */
const IMPORTED_SELECT = 'id,serialNumber,groupTag,importId,state';

const pageSchema = z.object({ value: z.array(z.unknown()), '@odata.nextLink': z.string().optional() });
const errorSchema = z.object({ error: z.object({ code: z.string().optional(), message: z.string().optional() }) });

interface Reply {
  status: number;
  body: unknown;
}

export function createGraphClient(options: GraphClientOptions): GraphClient {
  if ((options.staticToken === undefined) === (options.credential === undefined)) {
    throw new Error('createGraphClient: give exactly one of staticToken or credential');
  }
  const settings = {
    requestTimeoutMs: options.requestTimeoutMs ?? GRAPH_SETTINGS_DEFAULTS.requestTimeoutMs,
    importChunkSize: options.importChunkSize ?? GRAPH_SETTINGS_DEFAULTS.importChunkSize,
    syncIntervalMs: options.syncIntervalMs ?? GRAPH_SETTINGS_DEFAULTS.syncIntervalMs,
    defaultRetryAfterMs: options.defaultRetryAfterMs ?? GRAPH_SETTINGS_DEFAULTS.defaultRetryAfterMs,
    pageSize: options.pageSize ?? GRAPH_SETTINGS_DEFAULTS.pageSize,
    maxPages: options.maxPages ?? GRAPH_SETTINGS_DEFAULTS.maxPages,
  };
  if (settings.importChunkSize < 1) throw new RangeError('importChunkSize must be at least 1');
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const origin = new URL(baseUrl).origin;
  const tokens =
    options.staticToken !== undefined
      ? staticTokenSource(options.staticToken)
      : credentialTokenSource(options.credential as TokenCredential, GRAPH_SCOPE);
  const transport = new NodeHttpTransport({ timeoutMs: settings.requestTimeoutMs, caCertPem: options.caCertPem });
  const graph = Client.initWithMiddleware({
    baseUrl,
    defaultVersion: 'v1.0',
    middleware: [new BearerTokenMiddleware(origin, tokens), transport],
  });
  const { budget } = options;

  /** One request: budget first, then exactly one attempt, mapped to a typed result. */
  const call = async (
    method: Method,
    version: Version,
    path: string,
    priority: BudgetPriority,
    body?: unknown,
  ): Promise<GraphResult<Reply>> => {
    let decision: Awaited<ReturnType<RequestBudget['acquire']>>;
    try {
      decision = await budget.acquire({ kind: method === 'GET' ? 'read' : 'write', priority });
    } catch (error) {
      return { ok: false, kind: 'transient', message: `request budget unavailable: ${describeThrown(error)}` };
    }
    if (!decision.granted) return { ok: false, kind: 'throttled', retryAfterMs: decision.retryAfterMs, source: 'budget' };
    let response: Response;
    try {
      const request = graph.api(path).version(version).responseType(ResponseType.RAW);
      response = (await (method === 'GET' ? request.get() : method === 'DELETE' ? request.delete() : request.post(body ?? {}))) as Response;
    } catch (error) {
      return { ok: false, kind: 'transient', message: describeThrown(error) };
    }
    let raw: string;
    try {
      raw = await response.text();
    } catch (error) {
      return { ok: false, kind: 'transient', status: response.status, message: describeThrown(error) };
    }
    const parsed = parseJson(raw);
    const status = response.status;
    if (status >= 200 && status < 300) return success({ status, body: parsed });
    const { code, message } = graphError(parsed, status, raw);
    if (status === 429) {
      const retryAfterMs = retryAfter(response.headers.get('retry-after'), settings.defaultRetryAfterMs);
      await budget.reportThrottled(retryAfterMs).catch(() => undefined);
      return { ok: false, kind: 'throttled', retryAfterMs, source: 'graph' };
    }
    if (status === 404) return { ok: false, kind: 'not-found', message };
    if (status === 408 || status >= 500) {
      const header = response.headers.get('retry-after');
      return {
        ok: false,
        kind: 'transient',
        status,
        code,
        message,
        ...(header ? { retryAfterMs: retryAfter(header, settings.defaultRetryAfterMs) } : {}),
      };
    }
    return { ok: false, kind: 'permanent', status, code, message };
  };

  const parseWith = <T>(schema: z.ZodType<T>, value: unknown, what: string): GraphResult<T> => {
    const result = schema.safeParse(value);
    if (result.success) return success(result.data);
    return {
      ok: false,
      kind: 'permanent',
      status: 200,
      code: 'UnexpectedResponse',
      message: `Graph answered with an unexpected ${what}: ${result.error.message}`,
    };
  };

  /** Follows @odata.nextLink (same origin only, so the token never leaves it) up to maxPages. */
  const collect = async <T>(
    version: Version,
    firstPath: string,
    schema: z.ZodType<T>,
    priority: BudgetPriority,
    stopWhen?: (item: T) => boolean,
  ): Promise<GraphResult<T[]>> => {
    const items: T[] = [];
    let next: { version: Version; path: string } | undefined = { version, path: firstPath };
    for (let pages = 0; next; pages++) {
      if (pages >= settings.maxPages) {
        return {
          ok: false,
          kind: 'permanent',
          status: 0,
          code: 'TooManyPages',
          message: `stopped after ${settings.maxPages} pages of ${firstPath}`,
        };
      }
      const reply = await call('GET', next.version, next.path, priority);
      if (!reply.ok) return reply;
      const page = parseWith(pageSchema, reply.value.body, 'collection page');
      if (!page.ok) return page;
      for (const raw of page.value.value) {
        const item = parseWith(schema, raw, 'entity');
        if (!item.ok) return item;
        items.push(item.value);
        if (stopWhen?.(item.value)) return success(items);
      }
      const link = page.value['@odata.nextLink'];
      next = link === undefined ? undefined : relativeLink(link, origin);
      if (link !== undefined && !next) {
        return { ok: false, kind: 'permanent', status: 0, code: 'UnexpectedNextLink', message: `nextLink outside ${origin}` };
      }
    }
    return success(items);
  };

  const getEntity = async <T>(version: Version, path: string, schema: z.ZodType<T>, priority: BudgetPriority): Promise<GraphResult<T>> => {
    const reply = await call('GET', version, path, priority);
    return reply.ok ? parseWith(schema, reply.value.body, 'entity') : reply;
  };

  const remove = async (path: string, priority: BudgetPriority): Promise<GraphResult<{ deleted: boolean }>> => {
    const reply = await call('DELETE', 'v1.0', path, priority);
    if (reply.ok) return success({ deleted: true });
    return reply.kind === 'not-found' ? success({ deleted: false }) : reply;
  };

  const post = async (version: Version, path: string, body: unknown, priority: BudgetPriority): Promise<GraphResult<void>> => {
    const reply = await call('POST', version, path, priority, body);
    return reply.ok ? success(undefined) : reply;
  };

  const sameSerial = (a: string, b: string): boolean => a.trim().toUpperCase() === b.trim().toUpperCase();
  const top = `$top=${settings.pageSize}`;

  // Set once a service has refused a listing's $top or $select (400): from then on its
  // listings ask for neither and take its default pages whole.
  let plainListings = false;
  /** A whole collection, in pages of `pageSize`, with only the `select`ed properties. */
  const list = async <T>(
    version: Version,
    path: string,
    select: string | undefined,
    schema: z.ZodType<T>,
    priority: BudgetPriority,
  ): Promise<GraphResult<T[]>> => {
    if (!plainListings) {
      const listed = await collect(version, `${path}?${top}${select ? `&$select=${select}` : ''}`, schema, priority);
      if (listed.ok || listed.kind !== 'permanent' || listed.status !== 400) return listed;
      plainListings = true;
    }
    return collect(version, path, schema, priority);
  };

  return {
    async importDevices(devices, callOptions) {
      const priority = callOptions?.priority ?? 'import';
      const imported: ImportedIdentity[] = [];
      for (let start = 0; start < devices.length; start += settings.importChunkSize) {
        const chunk = devices.slice(start, start + settings.importChunkSize);
        const body = { importedWindowsAutopilotDeviceIdentities: chunk.map(importPayload) };
        const reply = await call('POST', 'v1.0', `${IMPORTED}/import`, priority, body);
        const records = reply.ok ? parseWith(z.object({ value: z.array(importedSchema) }), reply.value.body, 'import answer') : reply;
        if (!records.ok) return { ...records, imported, notSubmitted: devices.slice(start) };
        imported.push(...records.value.value);
      }
      return { ok: true, value: imported };
    },

    getImportedIdentity: (id, callOptions) =>
      getEntity('v1.0', `${IMPORTED}/${encodeURIComponent(id)}`, importedSchema, callOptions?.priority ?? 'status'),

    // The records' hardware hashes (~4 KB each) are never needed back.
    listImportedIdentities: (callOptions) => list('v1.0', IMPORTED, IMPORTED_SELECT, importedSchema, callOptions?.priority ?? 'status'),

    deleteImportedIdentity: (id, callOptions) => remove(`${IMPORTED}/${encodeURIComponent(id)}`, callOptions?.priority ?? 'cleanup'),

    async findAutopilotIdentityBySerial(serialNumber, callOptions) {
      const priority = callOptions?.priority ?? 'status';
      const wanted = serialNumber.trim();
      const filter = encodeURIComponent(`contains(serialNumber,'${wanted.replace(/'/g, "''")}')`);
      const matches = (identity: AutopilotIdentity): boolean => sameSerial(identity.serialNumber, wanted);
      const filtered = await collect('v1.0', `${IDENTITIES}?$filter=${filter}&${top}`, identitySchema, priority, matches);
      if (filtered.ok) {
        const found = filtered.value.find(matches);
        if (found || /^[A-Za-z0-9]*$/.test(wanted)) return success(found);
      } else if (filtered.kind !== 'permanent' || filtered.status !== 400) {
        return filtered;
      }
      // contains is unreliable for some serials (hyphens, spaces): look at every device instead.
      const all = await collect('v1.0', `${IDENTITIES}?${top}`, identitySchema, priority, matches);
      return all.ok ? success(all.value.find(matches)) : all;
    },

    listAutopilotIdentities: (callOptions) => list('beta', IDENTITIES, undefined, identitySchema, callOptions?.priority ?? 'status'),

    getAutopilotIdentity: (id, callOptions) =>
      getEntity('beta', `${IDENTITIES}/${encodeURIComponent(id)}`, identitySchema, callOptions?.priority ?? 'status'),

    updateDeviceProperties: (id, update, callOptions) =>
      post('v1.0', `${IDENTITIES}/${encodeURIComponent(id)}/updateDeviceProperties`, update, callOptions?.priority ?? 'import'),

    deleteAutopilotIdentity: (id, callOptions) => remove(`${IDENTITIES}/${encodeURIComponent(id)}`, callOptions?.priority ?? 'cleanup'),

    async syncAutopilot(callOptions) {
      let claimed: boolean;
      try {
        claimed = await budget.claimSync(settings.syncIntervalMs);
      } catch (error) {
        return { ok: false, kind: 'transient', message: `request budget unavailable: ${describeThrown(error)}` };
      }
      if (!claimed) return success<SyncOutcome>('coalesced');
      const reply = await call('POST', 'beta', 'deviceManagement/windowsAutopilotSettings/sync', callOptions?.priority ?? 'import');
      if (reply.ok) return success<SyncOutcome>('synced');
      if (reply.kind === 'permanent' && reply.status === 409) return success<SyncOutcome>('already-running');
      if (reply.kind === 'throttled' && reply.source === 'graph') return success<SyncOutcome>('recently-synced');
      return reply;
    },

    async findManagedDeviceBySerial(serialNumber, callOptions) {
      const wanted = serialNumber.trim();
      const filter = encodeURIComponent(`serialNumber eq '${wanted.replace(/'/g, "''")}'`);
      const devices = await collect('v1.0', `${MANAGED}?$filter=${filter}&${top}`, managedSchema, callOptions?.priority ?? 'status');
      if (!devices.ok) return devices;
      const newestFirst = devices.value
        .filter((d) => sameSerial(d.serialNumber, wanted))
        .sort((a, b) => (b.enrolledDateTime ?? '').localeCompare(a.enrolledDateTime ?? ''));
      return success(newestFirst[0]);
    },

    getManagedDevice: (id, callOptions) =>
      getEntity('v1.0', `${MANAGED}/${encodeURIComponent(id)}`, managedSchema, callOptions?.priority ?? 'status'),

    runManagedDeviceAction(id, action, callOptions) {
      const path = `${MANAGED}/${encodeURIComponent(id)}`;
      const priority = callOptions?.priority ?? 'import';
      switch (action.action) {
        case 'wipe': {
          const { keepEnrollmentData, keepUserData, useProtectedWipe } = action;
          // useProtectedWipe exists only in beta.
          return useProtectedWipe === undefined
            ? post('v1.0', `${path}/wipe`, { keepEnrollmentData, keepUserData }, priority)
            : post('beta', `${path}/wipe`, { keepEnrollmentData, keepUserData, useProtectedWipe }, priority);
        }
        case 'cleanWindowsDevice':
          return post('v1.0', `${path}/cleanWindowsDevice`, { keepUserData: action.keepUserData }, priority);
        case 'retire':
          return post('v1.0', `${path}/retire`, {}, priority);
      }
    },

    deleteManagedDevice: (id, callOptions) => remove(`${MANAGED}/${encodeURIComponent(id)}`, callOptions?.priority ?? 'cleanup'),

    async checkReachable(callOptions) {
      const reply = await call('GET', 'v1.0', `${IDENTITIES}?$top=1`, callOptions?.priority ?? 'status');
      return reply.ok ? success(undefined) : reply;
    },

    close: () => transport.close(),
  };
}

function importPayload(device: ImportDeviceInput): Record<string, unknown> {
  return {
    '@odata.type': '#microsoft.graph.importedWindowsAutopilotDeviceIdentity',
    serialNumber: device.serialNumber,
    productKey: device.productKey ?? '',
    hardwareIdentifier: device.hardwareIdentifier,
    groupTag: device.groupTag ?? '',
    assignedUserPrincipalName: device.assignedUserPrincipalName ?? '',
    importId: device.importId ?? '',
    state: { deviceImportStatus: 'pending', deviceRegistrationId: '', deviceErrorCode: 0, deviceErrorName: '' },
  };
}

/** `https://host/beta/x?y` -> { version: 'beta', path: 'x?y' } when it points at our origin. */
function relativeLink(link: string, origin: string): { version: Version; path: string } | undefined {
  if (!link.startsWith(`${origin}/`)) return undefined;
  const rest = link.slice(origin.length + 1);
  const slash = rest.indexOf('/');
  const version = rest.slice(0, slash);
  if (slash < 0 || (version !== 'v1.0' && version !== 'beta')) return undefined;
  return { version, path: rest.slice(slash + 1) };
}

/** Seconds (possibly fractional) or an HTTP date; the default when absent or unreadable. */
export function retryAfter(header: string | null, defaultMs: number): number {
  if (header === null || header.trim() === '') return defaultMs;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? defaultMs : Math.max(0, date - Date.now());
}

function parseJson(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function graphError(body: unknown, status: number, raw: string): { code: string; message: string } {
  const parsed = errorSchema.safeParse(body);
  if (parsed.success) return { code: parsed.data.error.code ?? `Http${status}`, message: parsed.data.error.message ?? '' };
  return { code: `Http${status}`, message: raw.slice(0, 200) };
}

/** The Graph client wraps transport errors in a GraphError whose body holds the original. */
function describeThrown(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { body, message, code } = error as { body?: unknown; message?: unknown; code?: unknown };
    if (typeof body === 'string' && body !== '') return body;
    if (typeof message === 'string' && message !== '') return typeof code === 'string' ? `${code}: ${message}` : message;
  }
  return String(error);
}
