import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { Client } from '@microsoft/microsoft-graph-client';
import { autopilotIdentityOperations } from './autopilot-identities.js';
import type { BudgetPriority, RequestBudget } from './budget.js';
import { createCall } from './call.js';
import { importedIdentityOperations } from './imported-identities.js';
import { managedDeviceOperations } from './managed-devices.js';
import { createPaging } from './paging.js';
import type { GraphFailure, GraphResult } from './result.js';
import type { GraphClientSettings, GraphSettings } from './settings.js';
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

const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

export interface GraphClientOptions extends GraphClientSettings {
  /** Azure credential for real Graph (tokens for GRAPH_SCOPE). Exactly one of staticToken / credential. */
  credential?: TokenCredential;
  /** Checked before every request; shared by all instances in production (see createTableBudget). */
  budget: RequestBudget;
  /** PEM of an extra CA to trust (a simulator's self-signed certificate over https). */
  caCertPem?: string;
}

/** Overrides the budget priority an operation uses by default. */
interface CallOptions {
  priority?: BudgetPriority;
}

/**
 * Result of importDevices. Chunks are sent one after another; when one fails, the failure says
 * which devices Graph accepted before it (`imported`) and which were never submitted.
 */
type ImportResult =
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

export function createGraphClient(options: GraphClientOptions): GraphClient {
  if ((options.staticToken === undefined) === (options.credential === undefined)) {
    throw new Error('createGraphClient: give exactly one of staticToken or credential');
  }
  if (options.importChunkSize < 1) throw new RangeError('importChunkSize must be at least 1');
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const origin = new URL(baseUrl).origin;
  const tokens =
    options.staticToken !== undefined
      ? staticTokenSource(options.staticToken)
      : credentialTokenSource(options.credential as TokenCredential, GRAPH_SCOPE);
  const transport = new NodeHttpTransport({ timeoutMs: options.requestTimeoutMs, caCertPem: options.caCertPem });
  const graph = Client.initWithMiddleware({
    baseUrl,
    defaultVersion: 'v1.0',
    middleware: [new BearerTokenMiddleware(origin, tokens), transport],
  });
  const call = createCall(graph, options.budget, options.defaultRetryAfterMs);
  const paging = createPaging(call, origin, options);
  return {
    ...importedIdentityOperations(call, paging, options.importChunkSize),
    ...autopilotIdentityOperations(call, paging, options.budget, options.syncIntervalMs),
    ...managedDeviceOperations(call, paging),
    close: () => transport.close(),
  };
}

/**
 * The client the app uses: the static token when configured (simulators), otherwise the given
 * credential or DefaultAzureCredential (managed identity in Azure).
 */
export function createGraphClientFromSettings(settings: GraphSettings, budget: RequestBudget, credential?: TokenCredential): GraphClient {
  const auth = settings.staticToken !== undefined ? {} : { credential: credential ?? new DefaultAzureCredential() };
  return createGraphClient({ ...settings, ...auth, budget });
}
