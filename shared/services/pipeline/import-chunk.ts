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
 * importId. The chunk submits only claims known never to have reached Autopilot: its fresh
 * ones, and those its message carries as unsent (a retry's, or the import poll's, which found
 * no record of them), each made afresh first (ETag-guarded, so of two deliveries only one
 * sends it). A claim is sent only within claimSendMs of being made (the adapter checks just
 * before the request leaves), so once a claim is older than the claim grace its call has been
 * answered or never will be. Anything else importing — a call in doubt, a claim this work
 * does not hold — is the import poll's, which reconciles it from the listing it makes anyway.
 */
export async function importChunk(
  deps: PipelineDeps,
  payload: ImportChunkPayload,
  correlationId: string,
  attempt: number,
): Promise<WorkResult> {
  const log = deps.log.child({ correlationId, ...describeSource(payload.source) });
  const devices = await mapLimited(payload.serialNumbers, DEVICE_CONCURRENCY, (serialNumber) => deps.devices.get(serialNumber));
  const unsent = payload.unsent ?? {};
  const fresh = devices.filter((device): device is Versioned<DeviceRecord> => device?.value.state === 'received');
  const held = devices.filter(
    (device): device is Versioned<DeviceRecord> =>
      device?.value.state === 'importing' &&
      device.value.importId !== undefined &&
      unsent[device.value.serialNumber] === device.value.importId,
  );
  // Devices importing under claims this work does not hold: the import poll's, which must be on its way.
  const others = devices.some((device) => device?.value.state === 'importing' && !held.includes(device));
  if (fresh.length === 0 && held.length === 0 && !others) return DONE;

  await deps.devices.announce?.(
    'importing',
    fresh.map((device) => device.value),
  );
  const claimed = await mapLimited(fresh, DEVICE_CONCURRENCY, (device) => claim(deps, device, correlationId, log));
  // A carried claim is spent by the delivery that sends it: made afresh first, so a redelivery
  // of this message (after a crash mid-send) finds another import id and leaves it to the poll.
  const renewed = await mapLimited(held, DEVICE_CONCURRENCY, (device) => reclaim(deps, device, log));
  const toSubmit = [...claimed, ...renewed].filter((device): device is Versioned<DeviceRecord> => device !== undefined);

  await ensureTick(deps.ticks, 'imports', new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
  if (toSubmit.length === 0) return DONE;
  const sendBy = Math.min(...toSubmit.map((device) => Date.parse(device.value.waitingSince ?? device.value.updatedAt))) + deps.claimSendMs;
  const sent = await submit(deps, toSubmit.map(importInput), sendBy, log);
  const byImportId = new Map(toSubmit.map((device) => [device.value.importId!, device]));
  for (const { input, failure } of sent.refused) {
    const device = byImportId.get(input.importId ?? '');
    if (device) await failDevice(deps, device, correlationId, failure, log);
  }
  if (sent.inDoubt.length > 0) {
    log.warn(
      { event: EVENTS.importInDoubt, rows: sent.inDoubt.length },
      `an import request of ${sent.inDoubt.length} may or may not have reached Autopilot: the import poll reconciles its devices`,
    );
  }
  if (!sent.stoppedBy || sent.unsent.length === 0) return DONE;
  const retry = retryFor(
    sent.stoppedBy.kind === 'permanent'
      ? { ok: false, kind: 'transient', message: `${sent.stoppedBy.status} ${sent.stoppedBy.code}` }
      : sent.stoppedBy,
    attempt,
    deps.retry,
    deps.now(),
    'importing devices',
  );
  if (retry.kind === 'done') return DONE;
  // The claims never sent travel with the retry, which sends them without asking Autopilot.
  const claims = Object.fromEntries(sent.unsent.map((input) => [input.serialNumber, input.importId ?? '']));
  return { ...retry, payload: { ...payload, serialNumbers: Object.keys(claims), unsent: claims } };
}

/**
 * Claims are sent only while young (claimSendMs): past that, the rest goes to a retry at once,
 * which claims it afresh. Slowness, not a fault: rescheduled as throttling is, no attempt spent.
 */
const PAST_SEND_WINDOW: GraphFailure = { ok: false, kind: 'throttled', retryAfterMs: 0, source: 'budget' };

/** A 400 is Autopilot refusing the request itself; any other failure is retried and reconciled. */
type Refusal = Extract<GraphFailure, { kind: 'permanent' }>;
const isRefusal = (failure: GraphFailure): failure is Refusal => failure.kind === 'permanent' && failure.status === 400;

interface Submitted {
  /** Rows Autopilot refused when sent on their own, with its answer. */
  readonly refused: { readonly input: ImportDeviceInput; readonly failure: Refusal }[];
  /** Rows neither accepted nor refused: the run stopped before it could send them (again). */
  readonly unsent: ImportDeviceInput[];
  /** Rows of a request that left and got no clear answer: Autopilot may have them. */
  readonly inDoubt: ImportDeviceInput[];
  /** Why it stopped: throttling or a fault (a non-400 refusal is treated as one). */
  readonly stoppedBy?: GraphFailure;
}

/**
 * Sends the devices in Graph-sized requests, none after `sendBy` (the oldest claim's send
 * window): what is left then goes to the retry, which claims it afresh. A request Autopilot refuses with 400 fails as a
 * whole, whichever of its rows it could not read, so it is bisected: each half is sent on its
 * own, a half refused again is split again, and a row refused on its own is the one that fails
 * (never sent again). With one such row among n that costs about 2·log2(n) requests (a request
 * of 100: 14 after the refused one); when every row is refused, each split is still made only
 * once, 2n − 1 requests in all. Throttling or a fault stops the run: whatever it has not
 * decided yet is left for the retry, which bisects again only what is refused again.
 */
async function submit(deps: PipelineDeps, inputs: readonly ImportDeviceInput[], sendBy: number, log: Logger): Promise<Submitted> {
  const refused: { input: ImportDeviceInput; failure: Refusal }[] = [];
  const unsent: ImportDeviceInput[] = [];
  const inDoubt: ImportDeviceInput[] = [];
  let stoppedBy: GraphFailure | undefined;
  let pending = inputs;
  while (pending.length > 0) {
    if (deps.now().getTime() >= sendBy) {
      unsent.push(...pending);
      stoppedBy = PAST_SEND_WINDOW;
      break;
    }
    // One request at a time, so none leaves after the window.
    const request = pending.slice(0, deps.importRequestSize);
    pending = pending.slice(request.length);
    const answer = await deps.graph.importDevices(request, { sendWithinMs: sendBy - deps.now().getTime() });
    if (answer.ok) continue;
    if (!isRefusal(answer)) {
      unsent.push(...answer.notSubmitted, ...pending);
      inDoubt.push(...answer.inDoubt);
      stoppedBy = answer;
      break;
    }
    logRefusal(log, answer, request.length);
    const split = await bisect(deps, request, answer, sendBy, log);
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
    inDoubt.push(...split.inDoubt);
    if (split.stoppedBy) {
      unsent.push(...split.unsent, ...pending);
      stoppedBy = split.stoppedBy;
      break;
    }
  }
  return { refused, unsent, inDoubt, ...(stoppedBy ? { stoppedBy } : {}) };
}

/** Splits a refused request (`rows`, refused with `refusal`) until the rows Autopilot refuses are alone. */
async function bisect(
  deps: PipelineDeps,
  rows: readonly ImportDeviceInput[],
  refusal: Refusal,
  sendBy: number,
  log: Logger,
): Promise<Submitted & { requests: number }> {
  const refused: { input: ImportDeviceInput; failure: Refusal }[] = [];
  const unsent: ImportDeviceInput[] = [];
  const inDoubt: ImportDeviceInput[] = [];
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
      if (!stoppedBy && deps.now().getTime() >= sendBy) stoppedBy = PAST_SEND_WINDOW;
      if (stoppedBy) {
        unsent.push(...half);
        continue;
      }
      // A half is never larger than one request.
      requests += 1;
      const sent = await deps.graph.importDevices(half, { sendWithinMs: sendBy - deps.now().getTime() });
      if (sent.ok) continue;
      if (isRefusal(sent)) {
        logRefusal(log, sent, sent.notSubmitted.length);
        // What it did not take (all of the half, unless the adapter sent it in more than one request).
        await split(sent.notSubmitted, sent);
      } else {
        stoppedBy = sent;
        unsent.push(...sent.notSubmitted);
        inDoubt.push(...sent.inDoubt);
      }
    }
  };
  await split(rows, refusal);
  return { refused, unsent, inDoubt, requests, ...(stoppedBy ? { stoppedBy } : {}) };
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
