/** Everything about the simulator that a test, benchmark or the local stack may tune. */

/** Simulated seconds; a [min, max] pair draws uniformly with the seeded PRNG. */
export type SimSeconds = number | readonly [number, number];

export interface SimulatorLatencies {
  /** Import record accepted -> `complete` / `error`. Observed 62 s and 95 s. */
  importSeconds: SimSeconds;
  /** Group tag matches a profile rule -> the device is in the group, status `pending`. */
  groupMembershipSeconds: SimSeconds;
  /** `pending` -> `assignedInSync`. With group membership, "around 15 minutes" reported. */
  profileAssignmentSeconds: SimSeconds;
  /** Profile assigned -> the device boots, enrols, a managed device appears. */
  enrolmentSeconds: SimSeconds;
  /** Wipe / retire / Fresh Start issued -> the device checks in and carries it out. */
  remoteActionSeconds: SimSeconds;
  /** Wipe carried out -> the device has gone through OOBE again and re-enrolled. */
  reEnrolmentSeconds: SimSeconds;
  /** A sync runs this long; a second sync meanwhile answers 409. */
  syncRunSeconds: SimSeconds;
  /** Deleting an Autopilot identity is reported to lag; 0 removes it at once (unconfirmed). */
  identityDeletionSeconds: SimSeconds;
}

export interface ProfileRule {
  /** Exact group tag, or a regular expression source written as `/…/` (e.g. "/^MPS-/"). */
  groupTag: string;
  profileName: string;
}

export interface ThrottleSettings {
  /** Non-GET requests allowed per window (documented: 100 per app per tenant). */
  writesPer20s: number;
  /** All requests allowed per window (documented: 1000 per app per tenant). */
  requestsPer20s: number;
  /** Window length in simulated seconds (documented: 20). */
  windowSeconds: number;
}

export interface FaultSettings {
  seed: number;
  /** Probability that a request is answered with a random 500/502/503/504 without taking effect. */
  errorRate5xx: number;
  /** Real milliseconds added before answering (to exercise client timeouts). */
  delayMs: number;
  /** Probability that a request gets `delayMs` (1 when omitted and delayMs > 0). */
  delayRate: number;
  /** Probability that the connection is destroyed before the request takes effect. */
  dropRate: number;
  /** Probability that the request takes effect but the connection is destroyed before the answer. */
  dropAfterEffectRate: number;
  /** Probability that a 429 leaves out Retry-After (the real service sometimes does). */
  omitRetryAfterRate: number;
}

export interface GraphSimulatorOptions {
  /** 0 (default) picks a free port. The server always binds 127.0.0.1. */
  port?: number;
  /** Serve HTTPS with a self-signed certificate generated at start (exposed as `caCertPem`). */
  https?: boolean;
  /** The bearer token every request must carry. */
  token: string;
  /** `realNow` (real monotonic ms) can be frozen so that only `clock.advance` moves simulated time. */
  clock?: { timeScale: number; startAt?: number; realNow?: () => number };
  latencies?: Partial<SimulatorLatencies>;
  profileRules?: ProfileRule[];
  /** Serials registered in another tenant: importing them ends in 808. */
  otherTenantSerials?: string[];
  throttle?: Partial<ThrottleSettings>;
  faults?: Partial<FaultSettings>;
  /** Whether devices boot and enrol once a profile is assigned (default true). */
  devicesBoot?: boolean;
  /** Seed for latencies drawn from ranges (faults have their own seed). */
  seed?: number;
  /** Filter values matching this regex source make `contains(serialNumber,…)` silently return nothing (reported for hyphens/spaces; unconfirmed). Empty string disables. */
  containsMisbehavesOn?: string;
  /** Default and maximum page size of collections. */
  pageSize?: number;
  maxPageSize?: number;
  /** System query options (e.g. `$select`) answered with 400 as unsupported, as a stricter service might. */
  refusedQueryOptions?: readonly string[];
  /** Whether `$select` on the `windowsAutopilotDeviceIdentities` collection answers 500, as the real service has been reported to (default true). */
  autopilotSelectFails?: boolean;
  /** Largest import batch accepted (undocumented; the portal caps files at 500 rows). */
  maxImportBatchSize?: number;
  /**
   * Rows the service cannot read (rule 25): an import request holding one is refused as a
   * whole with 400, and none of its rows is imported. Which rows the real service refuses is
   * undocumented, so a test names them. Default: none.
   */
  refuseImportRowsWhere?: (row: Readonly<Record<string, unknown>>) => boolean;
  /**
   * Autopilot identities whose `updateDeviceProperties` the service refuses (rule 26): 412
   * `ConditionNotMet`, nothing changed, on every try. Which identities the real service refuses
   * this way is undocumented, so a test names them. Default: none.
   */
  refuseDevicePropertiesWhere?: (identity: { readonly id: string; readonly serialNumber: string }) => boolean;
  /** How an absent id is rendered in `managedDeviceId` (unconfirmed; the zero GUID is the stricter choice). */
  emptyIdAs?: 'zero-guid' | 'null';
  /** Status and Graph code for deleting an Autopilot identity while a managed device exists (unconfirmed). */
  deleteEnrolledIdentityError?: { status: number; code: string };
  /** deviceErrorCode reported with `ZtdDeviceDuplicated` (its number is undocumented). */
  duplicatedErrorCode?: number;
  /** Whether Fresh Start (cleanWindowsDevice) unenrols the device until it re-enrols (unconfirmed; default false: stays enrolled). */
  freshStartReEnrols?: boolean;
  /** Keep at most this many request-log entries (counters are never trimmed). */
  requestLogLimit?: number;
}

export const DEFAULT_LATENCIES: SimulatorLatencies = {
  importSeconds: [60, 120],
  groupMembershipSeconds: [240, 360],
  profileAssignmentSeconds: [540, 660],
  enrolmentSeconds: 1800,
  remoteActionSeconds: 300,
  reEnrolmentSeconds: 1800,
  syncRunSeconds: 120,
  identityDeletionSeconds: 0,
};

export const DEFAULT_THROTTLE: ThrottleSettings = { writesPer20s: 100, requestsPer20s: 1000, windowSeconds: 20 };

export const NO_FAULTS: FaultSettings = {
  seed: 1,
  errorRate5xx: 0,
  delayMs: 0,
  delayRate: 1,
  dropRate: 0,
  dropAfterEffectRate: 0,
  omitRetryAfterRate: 0,
};

export interface ResolvedOptions {
  latencies: SimulatorLatencies;
  profileRules: ProfileRule[];
  otherTenantSerials: Set<string>;
  throttle: ThrottleSettings;
  faults: FaultSettings;
  devicesBoot: boolean;
  seed: number;
  containsMisbehavesOn: RegExp | undefined;
  pageSize: number;
  maxPageSize: number;
  refusedQueryOptions: ReadonlySet<string>;
  autopilotSelectFails: boolean;
  maxImportBatchSize: number;
  refuseImportRowsWhere: ((row: Readonly<Record<string, unknown>>) => boolean) | undefined;
  refuseDevicePropertiesWhere: ((identity: { readonly id: string; readonly serialNumber: string }) => boolean) | undefined;
  emptyId: string | null;
  deleteEnrolledIdentityError: { status: number; code: string };
  duplicatedErrorCode: number;
  freshStartReEnrols: boolean;
  requestLogLimit: number;
}

export function resolveOptions(options: GraphSimulatorOptions): ResolvedOptions {
  const misbehaves = options.containsMisbehavesOn ?? '[\\s-]';
  return {
    latencies: { ...DEFAULT_LATENCIES, ...definedOnly(options.latencies) },
    profileRules: options.profileRules ?? [],
    otherTenantSerials: new Set((options.otherTenantSerials ?? []).map(normaliseSerial)),
    throttle: { ...DEFAULT_THROTTLE, ...definedOnly(options.throttle) },
    faults: resolveFaults(options.faults),
    devicesBoot: options.devicesBoot ?? true,
    seed: options.seed ?? 42,
    containsMisbehavesOn: misbehaves === '' ? undefined : new RegExp(misbehaves),
    pageSize: options.pageSize ?? 100,
    maxPageSize: options.maxPageSize ?? 1000,
    refusedQueryOptions: new Set((options.refusedQueryOptions ?? []).map((option) => option.toLowerCase())),
    autopilotSelectFails: options.autopilotSelectFails ?? true,
    maxImportBatchSize: options.maxImportBatchSize ?? 500,
    refuseImportRowsWhere: options.refuseImportRowsWhere,
    refuseDevicePropertiesWhere: options.refuseDevicePropertiesWhere,
    emptyId: (options.emptyIdAs ?? 'zero-guid') === 'zero-guid' ? '00000000-0000-0000-0000-000000000000' : null,
    deleteEnrolledIdentityError: options.deleteEnrolledIdentityError ?? { status: 400, code: 'BadRequest' },
    duplicatedErrorCode: options.duplicatedErrorCode ?? 0,
    freshStartReEnrols: options.freshStartReEnrols ?? false,
    requestLogLimit: options.requestLogLimit ?? 10_000,
  };
}

export function resolveFaults(faults: Partial<FaultSettings> | undefined): FaultSettings {
  return { ...NO_FAULTS, ...definedOnly(faults) };
}

/** Drops keys whose value is undefined, so `{ x: undefined }` never overrides a default. */
export function definedOnly<T extends object>(partial: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(partial ?? {}).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** The simulator compares serials trimmed and case-insensitively (how Autopilot compares them is unconfirmed). */
export function normaliseSerial(serial: string): string {
  return serial.trim().toUpperCase();
}

export function matchesRule(rule: ProfileRule, groupTag: string): boolean {
  const regex = /^\/(.*)\/([a-z]*)$/.exec(rule.groupTag);
  if (regex) return new RegExp(regex[1] ?? '', regex[2]).test(groupTag);
  return rule.groupTag === groupTag;
}
