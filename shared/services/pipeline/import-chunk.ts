import { randomUUID } from 'node:crypto';
import { EVENTS } from '../../events.js';
import type { ImportDeviceInput } from '../../domain/autopilot.js';
import type { GraphFailure } from '../graph-result.js';
import type { DeviceRecord } from '../../domain/device.js';
import { deadlineAt } from '../../domain/waiting.js';
import { ConcurrencyConflictError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { applyTransition } from '../device-lifecycle.js';
import { describeSource, type ImportChunkPayload } from '../../messages/index.js';
import type { Versioned } from '../ports.js';
import type { PipelineDeps } from './context.js';
import { ensureTick } from './ticks.js';
import { DEVICE_CONCURRENCY, DONE, mapLimited, retryFor, type WorkResult } from './work.js';

/**
 * Import ids carry this deployment's prefix (ZTP_IMPORT_ID_PREFIX), so clean-up never
 * touches records of other tools, or of another deployment sharing the tenant.
 */
export function newImportId(deps: Pick<PipelineDeps, 'importIdPrefix'>): string {
  return `${deps.importIdPrefix}${randomUUID()}`;
}

/**
 * Submits a chunk of received devices to Autopilot with the batch import action.
 *
 * Devices are claimed (received -> importing, with a fresh importId) before Graph is called,
 * so two deliveries never submit the same device twice; the claims of a chunk are written
 * side by side, and nothing more is written before the import poll finds the records by
 * importId. A claimed device whose import may have been lost (crash, throttling, timeout) is
 * submitted again only when the imported records do not show its importId, its last claim is
 * older than any import call could still be in flight (claimGraceMs), and it wins a new
 * ETag-guarded claim.
 */
export async function importChunk(
  deps: PipelineDeps,
  payload: ImportChunkPayload,
  correlationId: string,
  attempt: number,
): Promise<WorkResult> {
  const log = deps.log.child({ correlationId, ...describeSource(payload.source) });
  const devices = await mapLimited(payload.serialNumbers, DEVICE_CONCURRENCY, (serialNumber) => deps.devices.get(serialNumber));
  const fresh = devices.filter((device): device is Versioned<DeviceRecord> => device?.value.state === 'received');
  const claimedBefore = devices.filter((device): device is Versioned<DeviceRecord> => device?.value.state === 'importing');
  if (fresh.length === 0 && claimedBefore.length === 0) return DONE;

  // Fresh devices first: they need no listing, so a failing listing cannot hold them back.
  await deps.devices.announce?.(
    'importing',
    fresh.map((device) => device.value),
  );
  const toSubmit = (await mapLimited(fresh, DEVICE_CONCURRENCY, (device) => claim(deps, device, correlationId, log))).filter(
    (device): device is Versioned<DeviceRecord> => device !== undefined,
  );
  let deferred: WorkResult | undefined;
  const now = deps.now().getTime();
  const own = payload.claims ?? {};
  // This work's own earlier claims, and claims old enough that no call for them can still be in flight.
  const settled = claimedBefore.filter(
    (d) =>
      own[d.value.serialNumber] === d.value.importId || now - Date.parse(d.value.waitingSince ?? d.value.updatedAt) > deps.claimGraceMs,
  );
  if (settled.length > 0) {
    const listed = await deps.graph.listImportedIdentities();
    if (!listed.ok) deferred = retryFor(listed, attempt, deps.retry, deps.now(), 'listing imported identities');
    else {
      const seen = new Set(listed.value.map((record) => record.importId));
      // Autopilot has the others: the import poll takes them from here.
      const lost = settled.filter((device) => !seen.has(device.value.importId ?? ''));
      const reclaimed = await mapLimited(lost, DEVICE_CONCURRENCY, (device) => reclaim(deps, device, log));
      for (const device of reclaimed) if (device) toSubmit.push(device);
    }
  }

  let claims: Record<string, string> = {};
  if (toSubmit.length > 0) {
    const sent = await submit(deps, toSubmit.map(importInput), log);
    const byImportId = new Map(toSubmit.map((device) => [device.value.importId!, device]));
    for (const { input, failure } of sent.refused) {
      const device = byImportId.get(input.importId ?? '');
      if (device) await failDevice(deps, device, correlationId, failure, log);
    }
    // Devices neither accepted nor refused stay `importing` under their claim: the retry reconciles them.
    for (const input of sent.unsent) claims[input.serialNumber] = input.importId ?? '';
    if (sent.stoppedBy) {
      deferred ??= retryFor(
        sent.stoppedBy.kind === 'permanent'
          ? { ok: false, kind: 'transient', message: `${sent.stoppedBy.status} ${sent.stoppedBy.code}` }
          : sent.stoppedBy,
        attempt,
        deps.retry,
        deps.now(),
        'importing devices',
      );
    }
  }
  await ensureTick(deps.ticks, 'imports', new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
  if (!deferred || deferred.kind === 'done') return DONE;
  // Claims this work still holds (and those it held before) travel with its retry.
  claims = { ...Object.fromEntries(Object.entries(own).filter(([serial]) => payload.serialNumbers.includes(serial))), ...claims };
  return { ...deferred, payload: { ...payload, claims } };
}

/** A 400 is Autopilot refusing the request itself; any other failure is retried and reconciled. */
type Refusal = Extract<GraphFailure, { kind: 'permanent' }>;
const isRefusal = (failure: GraphFailure): failure is Refusal => failure.kind === 'permanent' && failure.status === 400;

interface Submitted {
  /** Rows Autopilot refused when sent on their own, with its answer. */
  readonly refused: { readonly input: ImportDeviceInput; readonly failure: Refusal }[];
  /** Rows neither accepted nor refused: the run stopped before it could send them (again). */
  readonly unsent: ImportDeviceInput[];
  /** Why it stopped: throttling or a fault (a non-400 refusal is treated as one). */
  readonly stoppedBy?: GraphFailure;
}

/**
 * Sends the devices in Graph-sized requests. A request Autopilot refuses with 400 fails as a
 * whole, whichever of its rows it could not read, so it is bisected: each half is sent on its
 * own, a half refused again is split again, and a row refused on its own is the one that fails
 * (never sent again). With one such row among n that costs about 2·log2(n) requests (a request
 * of 100: 14 after the refused one); when every row is refused, each split is still made only
 * once, 2n − 1 requests in all. Throttling or a fault stops the run: whatever it has not
 * decided yet is left for the retry, which bisects again only what is refused again.
 */
async function submit(deps: PipelineDeps, inputs: readonly ImportDeviceInput[], log: Logger): Promise<Submitted> {
  const refused: { input: ImportDeviceInput; failure: Refusal }[] = [];
  const unsent: ImportDeviceInput[] = [];
  let stoppedBy: GraphFailure | undefined;
  let pending = inputs;
  while (pending.length > 0) {
    // The adapter sends Graph-sized requests in turn and says which it got through.
    const answer = await deps.graph.importDevices(pending);
    if (answer.ok) break;
    if (!isRefusal(answer)) {
      unsent.push(...answer.notSubmitted);
      stoppedBy = answer;
      break;
    }
    // Only the request it refused; the requests after it were never sent.
    const request = answer.notSubmitted.slice(0, deps.importRequestSize);
    pending = answer.notSubmitted.slice(request.length);
    logRefusal(log, answer, request.length);
    const split = await bisect(deps, request, answer, log);
    refused.push(...split.refused);
    log.info(
      {
        event: EVENTS.importBisected,
        rows: request.length,
        refused: split.refused.length,
        imported: request.length - split.refused.length - split.unsent.length,
        unsent: split.unsent.length,
        requests: split.requests,
        status: answer.status,
        code: answer.code,
      },
      `a refused import request of ${request.length} split: ${split.refused.length} refused on their own, ${split.unsent.length} left for the retry`,
    );
    if (split.stoppedBy) {
      unsent.push(...split.unsent, ...pending);
      stoppedBy = split.stoppedBy;
      break;
    }
  }
  return { refused, unsent, ...(stoppedBy ? { stoppedBy } : {}) };
}

/** Splits a refused request (`rows`, refused with `refusal`) until the rows Autopilot refuses are alone. */
async function bisect(
  deps: PipelineDeps,
  rows: readonly ImportDeviceInput[],
  refusal: Refusal,
  log: Logger,
): Promise<Submitted & { requests: number }> {
  const refused: { input: ImportDeviceInput; failure: Refusal }[] = [];
  const unsent: ImportDeviceInput[] = [];
  let stoppedBy: GraphFailure | undefined;
  let requests = 0;
  const split = async (group: readonly ImportDeviceInput[], answer: Refusal): Promise<void> => {
    // Refused on its own: this row is the one; it is not sent again.
    if (group.length === 1) {
      refused.push({ input: group[0]!, failure: answer });
      return;
    }
    const middle = Math.ceil(group.length / 2);
    for (const half of [group.slice(0, middle), group.slice(middle)]) {
      if (stoppedBy) {
        unsent.push(...half);
        continue;
      }
      // A half is never larger than one request.
      requests += 1;
      const sent = await deps.graph.importDevices(half);
      if (sent.ok) continue;
      if (isRefusal(sent)) {
        logRefusal(log, sent, sent.notSubmitted.length);
        // What it did not take (all of the half, unless the adapter sent it in more than one request).
        await split(sent.notSubmitted, sent);
      } else {
        stoppedBy = sent;
        unsent.push(...sent.notSubmitted);
      }
    }
  };
  await split(rows, refusal);
  return { refused, unsent, requests, ...(stoppedBy ? { stoppedBy } : {}) };
}

function logRefusal(log: Logger, refusal: Refusal, rows: number): void {
  log.error(
    { event: EVENTS.importRefused, status: refusal.status, code: refusal.code, rows, message: graphMessage(refusal.message) },
    `Autopilot refused an import request of ${rows}`,
  );
}

/** Graph's message as kept in a note and a history event: bounded, since it is Graph's text. */
const graphMessage = (message: string): string =>
  message.length > MAX_GRAPH_MESSAGE ? `${message.slice(0, MAX_GRAPH_MESSAGE)}…` : message;
const MAX_GRAPH_MESSAGE = 500;

function importInput(device: Versioned<DeviceRecord>): ImportDeviceInput {
  const d = device.value;
  return {
    serialNumber: d.serialNumber,
    hardwareIdentifier: d.hardwareHash ?? '',
    ...(d.productKey ? { productKey: d.productKey } : {}),
    ...(d.groupTag ? { groupTag: d.groupTag } : {}),
    ...(d.assignedUser ? { assignedUserPrincipalName: d.assignedUser } : {}),
    importId: d.importId!,
  };
}

async function claim(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  correlationId: string,
  log: Logger,
): Promise<Versioned<DeviceRecord> | undefined> {
  const now = deps.now();
  try {
    return await applyTransition(deps, log, device, {
      to: 'importing',
      reason: 'import-submitted',
      correlationId,
      now,
      changes: {
        importId: newImportId(deps),
        importedIdentityId: undefined,
        waitingFor: 'import',
        waitingSince: now.toISOString(),
        deadlineAt: deadlineAt('import', now, deps.waits).toISOString(),
        pollAttempt: 0,
      },
    });
  } catch (error) {
    // Another delivery claimed it first; that one submits it.
    if (error instanceof ConcurrencyConflictError) return undefined;
    throw error;
  }
}

/**
 * A fresh import id and claim time for a device whose earlier claim was never confirmed.
 * ETag-guarded, so of two deliveries only one submits it again.
 */
async function reclaim(deps: PipelineDeps, device: Versioned<DeviceRecord>, log: Logger): Promise<Versioned<DeviceRecord> | undefined> {
  const now = deps.now().toISOString();
  try {
    return await deps.devices.save({ ...device.value, importId: newImportId(deps), waitingSince: now, updatedAt: now }, device);
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError)) throw error;
    log.info({ event: EVENTS.conflict, serial: device.value.serialNumber }, 'another delivery re-claimed the device first');
    return undefined;
  }
}

async function failDevice(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  correlationId: string,
  refusal: Refusal,
  log: Logger,
): Promise<void> {
  const code = `${refusal.status} ${refusal.code}`;
  const message = graphMessage(refusal.message);
  try {
    await applyTransition(deps, log, device, {
      to: 'failed',
      reason: 'autopilot-error',
      correlationId,
      now: deps.now(),
      changes: {
        reasons: ['autopilot-error'],
        note: `Autopilot refused the import of this device on its own: ${code}${message ? `: ${message}` : ''}`,
        waitingFor: undefined,
        deadlineAt: undefined,
      },
      detail: { code, message },
    });
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError)) throw error;
  }
}
