import { EVENTS } from '../../events.js';
import type { ImportedIdentity } from '../../domain/autopilot.js';
import { importChunkQueue, resubmitMessage } from '../../messages/index.js';
import { interpretImport } from '../../domain/autopilot-outcomes.js';
import { decideImport, stallIfLate } from '../../domain/import-decision.js';
import type { DeviceRecord } from '../../domain/device.js';
import { backoffMs, deadlineAt } from '../../domain/waiting.js';
import { ConcurrencyConflictError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { reasonText } from '../../domain/reason-codes.js';
import { applyTransition } from '../device-lifecycle.js';
import type { Versioned } from '../ports.js';
import type { PipelineDeps } from './context.js';
import { ensureTick, UNLOCKED, type PollRun, type TickPayload } from './ticks.js';
import { STALLED_ON_IMPORT, WATCHED } from './watched.js';
import { DEVICE_CONCURRENCY, DONE, forEachLimited, inPages, retryFor, type WorkResult } from './work.js';

/** Finished records carried to the next run, at most: a Service Bus message stays small. */
const CARRIED_CLEANUP = 1000;

/**
 * The import poll: one listing of the imported records answers every importing device.
 * Finished records move their devices on (806 counts as registered, 808/802 fail with a
 * reason the supplier can act on), then are deleted at clean-up priority. The poll
 * reschedules itself with backoff while devices are importing or records are left to clean;
 * once nothing is importing, the records left to delete travel with the next run instead of
 * being listed again. Devices stalled on their import are looked at in passing (a late result
 * still moves them on, and their records are kept for a re-drive) but keep no run going.
 */
export async function pollImports(
  deps: PipelineDeps,
  tick: TickPayload,
  correlationId: string,
  attempt: number,
  run: PollRun = UNLOCKED,
): Promise<WorkResult> {
  const log = deps.log.child({ correlationId, tick: tick.tick });
  if (tick.cleanup?.length && !(await anyWaitingForImport(deps))) return cleanUpCarried(deps, tick, tick.cleanup, correlationId, log);
  // Listing first, devices second: a device claimed in between then has no finished record
  // in this listing, so clean-up can never delete a record a waiting device still needs.
  const started = performance.now();
  const runStart = deps.now().getTime();
  // A claim older than the grace when the listing began had its call answered before it: a
  // record it lacks was never made. Judged from the start, however long the listing takes.
  const listedFrom = new Date(runStart);
  const listed = await deps.graph.listImportedIdentities();
  if (!listed.ok) return retryFor(listed, attempt, deps.retry, deps.now(), 'listing imported identities');
  const records = listed.value;
  const listedAt = performance.now();
  // A claimed device's record is known by its import id alone (the record id is kept only
  // once the device has moved on).
  const byImportId = new Map(records.map((r) => [r.importId, r]));

  let watched = 0;
  let pages = 0;
  let lockLost = false;
  let progressed = 0;
  let stillWaiting = 0;
  let stalledSeen = 0;
  let registeredAny = false;
  let resubmitted = 0;
  // Import ids whose devices still wait on their record: those records must stay.
  const pendingImportIds = new Set<string>();
  // A page of waiting devices at a time: moved on, its resubmits sent, before the next is read.
  for await (const page of inPages(deps.devices.matching([...WATCHED.imports, STALLED_ON_IMPORT]), deps.pollPageSize)) {
    // Another run has the lock: it lists afresh and goes on with these devices, so this one stops.
    if (!(await run.stillHeld())) {
      lockLost = true;
      break;
    }
    pages++;
    watched += page.length;
    // Claims Autopilot has no record of (serial -> import id), sent back to be imported under them.
    const resubmit: Record<string, string> = {};
    // The devices this listing registers, announced together: their index entries go ahead in a few round trips.
    const registering = page.filter((device) => {
      const record = device.value.importId ? byImportId.get(device.value.importId) : undefined;
      const outcome = record ? interpretImport(record.state).kind : 'pending';
      return outcome === 'registered' || outcome === 'already-registered';
    });
    await deps.devices.announce?.(
      'autopilot',
      registering.map((device) => device.value),
    );
    await forEachLimited(page, DEVICE_CONCURRENCY, async (device) => {
      const record = device.value.importId ? byImportId.get(device.value.importId) : undefined;
      // Only importing devices keep the poll going; one stalled already waits for a re-drive.
      const importing = device.value.state === 'importing';
      if (!importing) stalledSeen++;
      try {
        const result = await resolve(deps, device, record, listedFrom, correlationId, log);
        // A stalled device's record stays too: a re-drive looks for it by import id.
        if (result === 'waiting' || typeof result === 'object' || result === 'stalled') {
          if (device.value.importId) pendingImportIds.add(device.value.importId);
        }
        if (result === 'waiting') {
          if (importing) stillWaiting++;
        } else progressed++;
        if (result === 'registered') registeredAny = true;
        if (typeof result === 'object') resubmit[device.value.serialNumber] = result.resubmit;
      } catch (error) {
        // Changed under us, or one device's trouble: the next poll looks again; the others go on.
        if (!(error instanceof ConcurrencyConflictError))
          log.error(
            { event: EVENTS.deviceStepFailed, serial: device.value.serialNumber, err: error },
            'import poll could not handle a device',
          );
        if (importing) stillWaiting++;
        if (device.value.importId) pendingImportIds.add(device.value.importId);
      }
    });
    await sendResubmits(deps, tick, resubmitted, resubmit, correlationId);
    resubmitted += Object.keys(resubmit).length;
  }
  const resolvedAt = performance.now();
  if (lockLost) {
    // No clean-up, sync or successor: the run holding the lock now does all three from its own listing.
    log.info(
      {
        event: EVENTS.importPoll,
        watched: watched - stalledSeen,
        stalled: stalledSeen,
        progressed,
        pages,
        lockLost,
        records: records.length,
      },
      'import poll stopped: another run holds its lock',
    );
    return DONE;
  }

  // Clean-up: our finished records whose devices have moved on.
  const finished = records.filter(
    (r) => interpretImport(r.state).kind !== 'pending' && !pendingImportIds.has(r.importId) && isProductImport(deps, r),
  );
  // While devices still wait, clean-up gets a slice of the poll interval, so it never holds
  // back the next look at the imports still finishing.
  const cleanup = await deleteRecords(
    deps,
    finished.map((r) => r.id),
    stillWaiting > 0 ? deps.now().getTime() + deps.waits.importPollMs / 4 : undefined,
  );

  if (registeredAny) {
    const synced = await deps.graph.syncAutopilot();
    if (!synced.ok) log.info({ event: EVENTS.syncSkipped, kind: synced.kind }, 'Autopilot sync not sent this time');
    await ensureTick(deps.ticks, 'autopilot', new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
  }
  const leftToClean = cleanup.left.length;
  if (stillWaiting > 0) {
    // Progress (clean-up included) keeps the interval short while imports finish. A run that
    // moved nothing backs off from the second such run on: the first poll after an import
    // often comes before Autopilot has finished any.
    const idle = progressed > 0 || cleanup.deleted > 0 ? 0 : tick.idle + 1;
    const backoff = backoffMs(idle - 1, deps.waits.importPollMs, deps.waits.maxPollIntervalMs);
    // Counted from this run's start: a long run (thousands of devices moved on) does not
    // delay the next look at the imports still finishing.
    const next = Math.max(runStart + backoff, afterThisRun(deps));
    const cleanupNext =
      cleanup.retryMs !== undefined && leftToClean > 0 ? deps.now().getTime() + cleanup.retryMs : Number.POSITIVE_INFINITY;
    await ensureTick(deps.ticks, 'imports', new Date(Math.min(next, cleanupNext)), { idle, replacing: tick.at, correlationId });
  } else if (leftToClean > 0) {
    await scheduleCleanup(deps, tick, cleanup, correlationId);
  }
  // Real milliseconds spent listing, reading and moving on the waiting devices, and the rest.
  // A stopwatch, not a clock: what each part of the run cost, for the log line.
  const ms = {
    list: Math.round(listedAt - started),
    devices: Math.round(resolvedAt - listedAt),
    rest: Math.round(performance.now() - resolvedAt),
  };
  log.info(
    {
      event: EVENTS.importPoll,
      watched: watched - stalledSeen,
      stalled: stalledSeen,
      progressed,
      stillWaiting,
      deleted: cleanup.deleted,
      leftToClean,
      records: records.length,
      pages,
      ms,
    },
    'import poll done',
  );
  return DONE;
}

/**
 * Devices whose import is to be tried again, sent as import chunks of the Graph request size.
 * `offset` counts those this run sent before: each chunk's id stays unique within the run.
 */
async function sendResubmits(
  deps: PipelineDeps,
  tick: TickPayload,
  offset: number,
  claims: Readonly<Record<string, string>>,
  correlationId: string,
): Promise<void> {
  const entries = Object.entries(claims);
  if (entries.length === 0) return;
  const chunks = [];
  for (let start = 0; start < entries.length; start += deps.importRequestSize) {
    const slice = Object.fromEntries(entries.slice(start, start + deps.importRequestSize));
    chunks.push(resubmitMessage(tick.at, offset + start, slice, correlationId));
  }
  await deps.queue.send(importChunkQueue, chunks);
}

/** Whether any device is importing: the first match answers, no whole scan. */
async function anyWaitingForImport(deps: PipelineDeps): Promise<boolean> {
  for await (const _device of deps.devices.matching(WATCHED.imports)) return true;
  return false;
}

interface Cleanup {
  readonly deleted: number;
  readonly left: readonly string[];
  /** When the budget allows clean-up again (real ms from now); set when it refused. */
  readonly retryMs?: number;
}

/**
 * Clean-up deletes sent at once. They ask the budget together, so one round trip to its
 * ledger grants the whole group instead of one or three slots a trip.
 */
const CLEANUP_GROUP = DEVICE_CONCURRENCY;

/**
 * Deletes records a group at a time until the clean-up share of the budget refuses, or
 * `stopAt` passes; a 404 is done too. What a group could not delete is left, with the
 * longest wait any of its answers asked for.
 */
async function deleteRecords(deps: PipelineDeps, ids: readonly string[], stopAt?: number): Promise<Cleanup> {
  let deleted = 0;
  for (let start = 0; start < ids.length; start += CLEANUP_GROUP) {
    if (stopAt !== undefined && deps.now().getTime() >= stopAt) return { deleted, left: ids.slice(start) };
    const group = ids.slice(start, start + CLEANUP_GROUP);
    const results = await Promise.all(group.map((id) => deps.graph.deleteImportedIdentity(id)));
    const waits: number[] = [];
    const undone = group.filter((_, index) => {
      const result = results[index]!;
      if (result.ok || result.kind === 'not-found') return false;
      waits.push(result.kind === 'throttled' ? result.retryAfterMs : deps.retry.firstRetryMs);
      return true;
    });
    deleted += group.length - undone.length;
    if (undone.length > 0) {
      return { deleted, left: [...undone, ...ids.slice(start + CLEANUP_GROUP)], retryMs: Math.max(1, ...waits) };
    }
  }
  return { deleted, left: [] };
}

/**
 * Nothing waits on an import any more: deletes the records an earlier run found finished,
 * without listing them again. When they are gone, one more listing run picks up any beyond
 * those carried, and ends the chain if there are none.
 */
async function cleanUpCarried(
  deps: PipelineDeps,
  tick: TickPayload,
  ids: readonly string[],
  correlationId: string,
  log: Logger,
): Promise<WorkResult> {
  const cleanup = await deleteRecords(deps, ids);
  if (cleanup.left.length > 0) await scheduleCleanup(deps, tick, cleanup, correlationId);
  else await ensureTick(deps.ticks, 'imports', new Date(afterThisRun(deps)), { replacing: tick.at, correlationId });
  log.info(
    {
      event: EVENTS.importPoll,
      watched: 0,
      stalled: 0,
      progressed: 0,
      stillWaiting: 0,
      deleted: cleanup.deleted,
      leftToClean: cleanup.left.length,
      records: ids.length,
    },
    'import clean-up run done',
  );
  return DONE;
}

/**
 * The earliest a successor should run: once this run has let go of the poll's lock. One that
 * arrives sooner stands down and becomes a rerun, losing what it carried.
 */
function afterThisRun(deps: PipelineDeps): number {
  return deps.now().getTime() + Math.min(1000, deps.waits.importPollMs / 10);
}

async function scheduleCleanup(deps: PipelineDeps, tick: TickPayload, cleanup: Cleanup, correlationId: string): Promise<void> {
  const next = new Date(Math.max(deps.now().getTime() + (cleanup.retryMs ?? 0), afterThisRun(deps)));
  await ensureTick(deps.ticks, 'imports', next, { replacing: tick.at, correlationId, cleanup: cleanup.left.slice(0, CARRIED_CLEANUP) });
}

/** Records of other tools in the tenant are left alone: the product's import ids carry a prefix. */
function isProductImport(deps: Pick<PipelineDeps, 'importIdPrefix'>, record: ImportedIdentity): boolean {
  return record.importId.startsWith(deps.importIdPrefix);
}

/** `resubmit`: the claim (import id) to import the device under again. */
type Resolution = 'waiting' | 'registered' | 'failed' | 'stalled' | { readonly resubmit: string };

/** Carries out what the device's imported record means for it (`decideImport`). */
async function resolve(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  record: ImportedIdentity | undefined,
  listedFrom: Date,
  correlationId: string,
  log: Logger,
): Promise<Resolution> {
  const now = deps.now();
  const d = device.value;
  const decision = decideImport(d, record, now, new Date(listedFrom.getTime() - deps.claimGraceMs));
  switch (decision.kind) {
    case 'wait':
      return 'waiting';
    case 'stall':
      return stall(deps, device, correlationId, log);
    case 'resubmit':
      return { resubmit: d.importId ?? '' };
    case 'retry-import':
      log.warn({ event: EVENTS.importRetry, serial: d.serialNumber, code: decision.code }, 'Autopilot asked to retry the import');
      // Sent back under this claim, which the import step makes afresh before sending: the
      // failed record is cleaned up once the device holds another import id.
      return { resubmit: d.importId ?? '' };
    case 'register': {
      let autopilotId = decision.autopilotId;
      let autopilotGroupTag: string | undefined = record?.groupTag || undefined;
      if (decision.lookup) {
        const found = await deps.graph.findAutopilotIdentityBySerial(d.serialNumber);
        if (!found.ok && found.kind === 'throttled') return 'waiting';
        autopilotId = found.ok ? found.value?.id : undefined;
        autopilotGroupTag = found.ok ? found.value?.groupTag || undefined : undefined;
        if (!autopilotId) return stallIfLate(d, now) === 'stall' ? stall(deps, device, correlationId, log) : 'waiting';
      }
      // A row without a tag never clears one: the record takes the tag Autopilot has (an 806
      // keeps its [OrderID] group), so nothing later reconciles it towards no tag.
      const adopted = d.groupTag === undefined ? autopilotGroupTag : undefined;
      await applyTransition(deps, log, device, {
        to: 'registered',
        reason: decision.reason,
        correlationId,
        now,
        changes: {
          autopilotId,
          autopilotGroupTag,
          ...(adopted !== undefined ? { groupTag: adopted } : {}),
          importedIdentityId: record?.id,
          // Autopilot has the device: the hash is not kept beyond the one use it had.
          hardwareHash: undefined,
          waitingFor: 'profile-assignment',
          waitingSince: now.toISOString(),
          deadlineAt: deadlineAt('profile-assignment', now, deps.waits).toISOString(),
          pollAttempt: 0,
          profileBaseline: undefined,
          reasons: decision.reason === 'already-registered' ? ['already-registered'] : [],
        },
        detail: {
          autopilotId,
          ...(decision.code !== undefined ? { code: decision.code } : {}),
          ...(adopted !== undefined ? { groupTag: adopted } : {}),
        },
      });
      return 'registered';
    }
    case 'fail':
      await applyTransition(deps, log, device, {
        to: 'failed',
        reason: decision.reason,
        correlationId,
        now,
        changes: {
          reasons: [decision.reason],
          note: `${reasonText(decision.reason)} (Autopilot: ${decision.code})`,
          importedIdentityId: record?.id,
          waitingFor: undefined,
          deadlineAt: undefined,
        },
        detail: { code: decision.code },
      });
      return 'failed';
  }
}

async function stall(deps: PipelineDeps, device: Versioned<DeviceRecord>, correlationId: string, log: Logger): Promise<Resolution> {
  await applyTransition(deps, log, device, {
    to: 'stalled',
    reason: 'deadline-passed',
    correlationId,
    now: deps.now(),
    detail: { waitingFor: device.value.waitingFor ?? 'import', deadlineAt: device.value.deadlineAt },
  });
  return 'stalled';
}
