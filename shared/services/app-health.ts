import { ConcurrencyConflictError, EntityExistsError } from '../errors.js';
import type { Clock } from '../domain/clock.js';
import { EVENTS } from '../events.js';
import type { Logger } from '../log.js';
import { checkHealth, failureReason, withTimeout, type CheckResult, type HealthCheckName, type HealthProbes } from './health.js';
import type { HealthRecord, HealthRecordStore } from './ports.js';

/**
 * The dependency check, shared by every instance of the app through one record in Table
 * Storage: the newest result and when it was taken. A caller that finds it younger than the
 * interval uses it; one that finds it older claims the next check with an ETag-guarded write,
 * checks once and writes the result, while every other instance keeps reading the record. So
 * however many instances and callers there are, Graph and Service Bus see one check per
 * interval. Three ways in:
 * - `liveness()` (anonymous): ok or degraded, read from the record and nothing else — an
 *   anonymous caller never starts a check and costs at most one table read per instance every
 *   few seconds;
 * - `details()` (function key): the newest result with its age and each check's outcome,
 *   taking a new one first when it is stale;
 * - `refresh()` (a timer): keeps the result fresh when nobody asks for details.
 */

export type Liveness = 'ok' | 'degraded';

export interface HealthDetails {
  readonly status: 'ok' | 'degraded';
  /** When the result was taken; absent when there is none. */
  readonly checkedAt?: string;
  /** Its age when answered (whole seconds). */
  readonly ageSeconds?: number;
  readonly checks: Partial<Record<HealthCheckName, CheckResult>>;
  /** Why there is no result to show. */
  readonly reason?: string;
}

export interface AppHealth {
  liveness(): Promise<Liveness>;
  details(): Promise<HealthDetails>;
  refresh(): Promise<void>;
}

export interface HealthPolicy {
  /** A result younger than this is used as it is; an older one is taken again (real ms). */
  readonly intervalMs: number;
  /** Each dependency's own time budget, and the record read's (real ms). */
  readonly timeoutMs: number;
  /** Liveness says degraded once the newest result is older than this: the checks have stopped (real ms). */
  readonly maxAgeMs: number;
  /** Liveness callers within this long share one read of the record, per instance (real ms). */
  readonly livenessSharedMs: number;
}

export interface AppHealthDeps {
  readonly store: HealthRecordStore;
  readonly probes: HealthProbes;
  readonly policy: HealthPolicy;
  /** Names this instance in its claims. */
  readonly instanceId: string;
  readonly log: Logger;
  readonly now: Clock;
}

/** How often, and how many times, a caller looks again for the first result another instance is taking. */
const WAIT_FOR_FIRST_MS = 250;

const isConflict = (error: unknown): boolean => error instanceof ConcurrencyConflictError || error instanceof EntityExistsError;

export function createAppHealth(deps: AppHealthDeps): AppHealth {
  const { store, policy, log } = deps;
  const now = (): number => deps.now().getTime();
  // A claim outlives the check it covers (three checks at once, each within the timeout) with room to write the result.
  const claimMs = 3 * policy.timeoutMs;
  /** The newest result this instance has seen: a timer run need not read the record while it is fresh. */
  let known: HealthRecord['checked'];
  let running: Promise<HealthDetails> | undefined;
  /** The record read liveness callers share: whether it could be read at all (what it held is in `known`). */
  let shared: { at: number; read: Promise<boolean> } | undefined;

  const ageMs = (checked: NonNullable<HealthRecord['checked']>): number => now() - Date.parse(checked.at);
  const isFresh = (checked: HealthRecord['checked']): checked is NonNullable<HealthRecord['checked']> =>
    checked !== undefined && ageMs(checked) < policy.intervalMs;

  async function read(): Promise<{ record: HealthRecord; etag: string | undefined }> {
    const found = await withTimeout(() => store.read(), policy.timeoutMs);
    const checked = found.record.checked;
    if (checked && (known === undefined || checked.at >= known.at)) known = checked;
    return found;
  }

  const answer = (checked: NonNullable<HealthRecord['checked']>): HealthDetails => ({
    status: checked.report.status,
    checkedAt: checked.at,
    ageSeconds: Math.max(0, Math.round(ageMs(checked) / 1000)),
    checks: checked.report.checks,
  });

  /** The record could not be read or claimed: that is the storage check failing, and nothing else is tried. */
  const storageFailed = (error: unknown): HealthDetails => ({
    status: 'degraded',
    checks: { storage: { ok: false, ms: 0, reason: failureReason(error) } },
  });

  /** Claims the next check and takes it; undefined when another instance claimed it first. */
  async function take(record: HealthRecord, etag: string | undefined): Promise<HealthDetails | undefined> {
    let claimed: string;
    try {
      const claim = { by: deps.instanceId, until: new Date(now() + claimMs).toISOString() };
      claimed = await withTimeout(() => store.write({ ...record, claim }, etag), policy.timeoutMs);
    } catch (error) {
      if (isConflict(error)) return undefined;
      return storageFailed(error);
    }
    const report = await checkHealth(deps.probes, { timeoutMs: policy.timeoutMs, clock: deps.now });
    const checked = { at: deps.now().toISOString(), report };
    known = checked;
    if (report.status !== 'ok') log.warn({ event: EVENTS.healthDegraded, checks: report.checks }, 'health check: degraded');
    try {
      await withTimeout(() => store.write({ checked }, claimed), policy.timeoutMs);
    } catch (error) {
      // Another instance took over a claim that had run out; its result stands. Anything else: the next caller checks again.
      if (!isConflict(error)) log.warn({ event: EVENTS.healthRecordFailed, err: error }, 'health check: result not saved');
    }
    return answer(checked);
  }

  async function current(): Promise<HealthDetails> {
    const waits = Math.ceil(claimMs / WAIT_FOR_FIRST_MS);
    for (let attempt = 0; ; attempt++) {
      let found: { record: HealthRecord; etag: string | undefined };
      try {
        found = await read();
      } catch (error) {
        return storageFailed(error);
      }
      const { record, etag } = found;
      if (isFresh(record.checked)) return answer(record.checked);
      const claimedElsewhere = record.claim !== undefined && Date.parse(record.claim.until) > now();
      if (!claimedElsewhere) {
        const taken = await take(record, etag);
        if (taken) return taken;
        continue;
      }
      // Another instance is checking: its last result meanwhile, or, before the first, its result once written.
      if (record.checked) return answer(record.checked);
      if (attempt >= waits) return { status: 'degraded', checks: {}, reason: 'the first check is still running' };
      await new Promise((resolve) => setTimeout(resolve, WAIT_FOR_FIRST_MS));
    }
  }

  const verdict = (checked: HealthRecord['checked']): Liveness =>
    checked === undefined || ageMs(checked) > policy.maxAgeMs ? 'degraded' : checked.report.status;

  function details(): Promise<HealthDetails> {
    running ??= current().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    async liveness() {
      const at = now();
      if (shared === undefined || at - shared.at >= policy.livenessSharedMs) {
        shared = {
          at,
          read: read().then(
            () => true,
            () => false,
          ),
        };
      }
      // The newest result this instance knows, which its own details calls may have brought since the shared read.
      return (await shared.read) ? verdict(known) : 'degraded';
    },
    details,
    async refresh() {
      if (!isFresh(known)) await details();
    },
  };
}
