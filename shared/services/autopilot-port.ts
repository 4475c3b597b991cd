import type {
  AutopilotIdentity,
  DevicePropertiesUpdate,
  ImportDeviceInput,
  ImportedIdentity,
  ManagedDevice,
  ManagedDeviceAction,
  SyncOutcome,
} from '../domain/autopilot.js';
import type { GraphFailure, GraphResult } from './graph-result.js';

/**
 * What the use cases need of Microsoft Graph (Autopilot and Intune), in their terms. Every
 * call first takes a slot in the tenant-wide request budget and resolves to a typed result —
 * throttling included — never an exception. The Graph adapter implements it.
 */

/** Which share of the request budget a call draws on: imports ahead of status reads ahead of clean-up. */
export type BudgetPriority = 'import' | 'status' | 'cleanup';

/** Overrides the budget priority an operation uses by default. */
export interface CallOptions {
  priority?: BudgetPriority;
  /**
   * A request that cannot leave within this many real ms of the call is not sent at all
   * (checked once the budget has admitted it, just before it is written): answered as
   * throttled by the budget, not sent. A duration, so the caller's clock need not be the adapter's.
   */
  sendWithinMs?: number;
}

/**
 * Result of importDevices. Chunks are sent one after another; when one fails, the failure says
 * which devices Graph accepted before it (`imported`), which Autopilot certainly does not have
 * (`notSubmitted`: never sent, refused by the budget, or answered 429 or 4xx), and which may
 * have reached it (`inDoubt`: the failed request left, then a fault or timeout hid the answer).
 */
export type ImportResult =
  | { ok: true; value: ImportedIdentity[] }
  | (GraphFailure & { imported: ImportedIdentity[]; inDoubt: ImportDeviceInput[]; notSubmitted: ImportDeviceInput[] });

export interface AutopilotPort {
  /** POST importedWindowsAutopilotDeviceIdentities/import, in Graph-sized chunks. Default priority: import. */
  importDevices(devices: readonly ImportDeviceInput[], options?: CallOptions): Promise<ImportResult>;
  /**
   * Every page, with only what the pipeline reads back (no hardware hash, product key or
   * user: those come back empty). Default priority: status.
   */
  listImportedIdentities(options?: CallOptions): Promise<GraphResult<ImportedIdentity[]>>;
  /** Already gone counts as done: `{ deleted: false }`. Default priority: cleanup. */
  deleteImportedIdentity(id: string, options?: CallOptions): Promise<GraphResult<{ deleted: boolean }>>;
  /** An exact (trimmed, case-insensitive) serial match. Default priority: status. */
  findAutopilotIdentityBySerial(serialNumber: string, options?: CallOptions): Promise<GraphResult<AutopilotIdentity | undefined>>;
  /** Every page, from /beta so each carries deploymentProfileAssignmentStatus. Default priority: status. */
  listAutopilotIdentities(options?: CallOptions): Promise<GraphResult<AutopilotIdentity[]>>;
  /** Read from /beta, so it carries deploymentProfileAssignmentStatus. Default priority: status. */
  getAutopilotIdentity(id: string, options?: CallOptions): Promise<GraphResult<AutopilotIdentity>>;
  /** Default priority: import (it finishes a registration). */
  updateDeviceProperties(id: string, update: DevicePropertiesUpdate, options?: CallOptions): Promise<GraphResult<void>>;
  /** Graph refuses while a managed device exists (permanent). Default priority: cleanup. */
  deleteAutopilotIdentity(id: string, options?: CallOptions): Promise<GraphResult<{ deleted: boolean }>>;
  /** At most one real call per sync interval across every instance; 409/429 mean "already done". Default priority: import. */
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
}
