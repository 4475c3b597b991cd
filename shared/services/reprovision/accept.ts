import { createHash } from 'node:crypto';
import type { Clock } from '../../domain/clock.js';
import { serialKey, type DeviceRecord } from '../../domain/device.js';
import { decideIdempotency, inProgressRecord, type IdempotencyRecord, type StoredAnswer } from '../../domain/idempotency.js';
import { refusal, type AcceptedBody, type ReprovisionAsk, type ReprovisionRequest } from '../../domain/reprovision.js';
import { ConcurrencyConflictError, EntityExistsError } from '../../errors.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import { reprovisionMessage, reprovisionQueue } from '../../messages/index.js';
import { applyTransition } from '../device-lifecycle.js';
import type { BatchDeviceIndex, DeviceStore, IdempotencyStore, MessageQueue, Versioned } from '../ports.js';

/**
 * Accepting a service-desk request: one ETag-guarded transition to `reprovisioning` carrying
 * the request, then its message on `ztp-reprovision` (deterministic id). With an idempotency
 * key the request first takes the key's record (in progress), and the answer is stored on it.
 *
 * Crash safety, step by step:
 * - stopped before the transition: the key's record is in progress with its request id and no
 *   device changed; a retry after the lock takes the request over under the same id;
 * - stopped between the transition and the message: the device shows the request `accepted`;
 *   the sweeper sends the message again, and a retry recognises its own request id and sends it;
 * - stopped before the answer was stored: a retry finds the device carrying its request id
 *   and answers 202 as the first time.
 * So a 202 is only ever given for recorded work, and no work exists without its record.
 */

export interface AcceptDeps {
  readonly devices: Pick<DeviceStore, 'get' | 'save' | 'history'>;
  readonly batchIndex?: BatchDeviceIndex;
  readonly idempotency: IdempotencyStore;
  readonly queue: Pick<MessageQueue, 'send'>;
  readonly log: Logger;
  readonly now: Clock;
  readonly newRequestId: () => string;
  /** How long a request may take to take effect (real ms, already divided by ZTP_TIME_SCALE). */
  readonly deadlineMs: number;
}

export interface ReprovisionInput {
  readonly serialNumber: string;
  readonly ask: ReprovisionAsk;
  readonly idempotencyKey: string | undefined;
  readonly correlationId: string;
  /** Where the device's status is read (the answer's `statusUrl`). */
  readonly statusUrl: string;
}

const CONFLICT_RETRIES = 4;

/** Serial and body, as a stable hash: key order and spacing in the JSON do not change it. */
export function requestFingerprint(serialNumber: string, ask: ReprovisionAsk): string {
  const body = Object.fromEntries(
    Object.entries(ask)
      .filter(([, value]) => value !== undefined)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return createHash('sha256')
    .update(`${serialKey(serialNumber)}\n${JSON.stringify(body)}`)
    .digest('hex');
}

export async function acceptReprovision(deps: AcceptDeps, input: ReprovisionInput): Promise<StoredAnswer> {
  const log = deps.log.child({ correlationId: input.correlationId, serial: input.serialNumber });
  if (input.idempotencyKey === undefined) return decide(deps, input, deps.newRequestId(), false, log);

  const fingerprint = requestFingerprint(input.serialNumber, input.ask);
  for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
    const stored = await deps.idempotency.get(input.idempotencyKey);
    const decision = decideIdempotency(stored?.value, fingerprint, deps.now());
    switch (decision.kind) {
      case 'replay':
        log.info({ event: EVENTS.reprovisionReplayed, status: decision.answer.status }, 'repeated request: the first answer again');
        return decision.answer;
      case 'mismatch':
        return refused(log, 422, 'idempotency-key-reused', 'This Idempotency-Key was already used for a different request.');
      case 'in-progress':
        return refused(
          log,
          409,
          'request-in-progress',
          'The first request with this Idempotency-Key is still being answered; try again shortly.',
        );
      case 'start':
      case 'resume': {
        const requestId = decision.kind === 'resume' ? decision.requestId : deps.newRequestId();
        const taken = await takeKey(deps, input.idempotencyKey, fingerprint, requestId, stored);
        if (!taken) continue;
        const answer = await decide(deps, input, requestId, decision.kind === 'resume', log);
        await storeAnswer(deps, taken, answer);
        return answer;
      }
    }
  }
  // The key itself stays out of errors and logs, as it stays out of storage.
  throw new ConcurrencyConflictError('idempotency', 'key', 'request');
}

/** Writes the in-progress record; undefined when another request took the key first. */
async function takeKey(
  deps: AcceptDeps,
  key: string,
  fingerprint: string,
  requestId: string,
  stored: Versioned<IdempotencyRecord> | undefined,
): Promise<Versioned<IdempotencyRecord> | undefined> {
  const now = deps.now();
  // Taking over an unanswered request keeps its creation time: the key still expires a day after it was first used.
  const resumed = stored && stored.value.requestId === requestId ? stored.value.createdAt : undefined;
  const record = inProgressRecord(key, fingerprint, requestId, now, resumed);
  try {
    return stored ? await deps.idempotency.save(record, stored.etag) : await deps.idempotency.create(record);
  } catch (error) {
    if (error instanceof ConcurrencyConflictError || error instanceof EntityExistsError) return undefined;
    throw error;
  }
}

async function storeAnswer(deps: AcceptDeps, taken: Versioned<IdempotencyRecord>, answer: StoredAnswer): Promise<void> {
  try {
    await deps.idempotency.save({ ...taken.value, status: 'completed', answer }, taken.etag);
  } catch (error) {
    // Taken over meanwhile (this request outlived its lock): the other finishes the same request.
    if (!(error instanceof ConcurrencyConflictError)) throw error;
  }
}

function refused(log: Logger, status: number, code: string, message: string, extra: Record<string, unknown> = {}): StoredAnswer {
  log.info({ event: EVENTS.reprovisionRefused, status, code, ...extra }, `re-provisioning request refused: ${code}`);
  return { status, body: { error: { code, message, ...extra } } };
}

/**
 * The device's answer: 404, 409 (state), or the transition and its message (202). `resumed`:
 * this request takes over one that stopped without an answer, which may have been accepted.
 */
async function decide(deps: AcceptDeps, input: ReprovisionInput, requestId: string, resumed: boolean, log: Logger): Promise<StoredAnswer> {
  const { ask } = input;
  for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
    const device = await deps.devices.get(input.serialNumber);
    if (!device) return refused(log, 404, 'device-not-found', 'No device with this serial number is known.');
    if (device.value.reprovision?.requestId === requestId) {
      // This same request, accepted before it could answer: finish it as the first time would have.
      if (device.value.reprovision.stage === 'accepted') await send(deps, device.value, requestId, input.correlationId);
      return acceptedAnswer(device.value, input, requestId);
    }
    // Accepted, then overtaken by a later request before this retry came: still accepted, never started again.
    if (resumed && (await deps.devices.history(input.serialNumber)).some((event) => event.detail?.requestId === requestId)) {
      return acceptedAnswer(device.value, input, requestId);
    }
    const why = refusal(device.value, ask.action);
    if (why) return refused(log, 409, why.code, why.message, { state: device.value.state });
    log.info(
      {
        event: EVENTS.reprovisionRequested,
        requestId,
        action: ask.action,
        ticket: ask.ticket,
        idempotencyKey: input.idempotencyKey !== undefined,
      },
      `${ask.action} requested for ${input.serialNumber}`,
    );
    const now = deps.now();
    const request: ReprovisionRequest = {
      requestId,
      action: ask.action,
      ticket: ask.ticket,
      requestedBy: ask.requestedBy,
      requestedAt: now.toISOString(),
      ...(ask.groupTag !== undefined ? { groupTag: ask.groupTag } : {}),
      ...(ask.allowReimport !== undefined ? { allowReimport: ask.allowReimport } : {}),
      fromState: device.value.state,
      fromWaiting: {
        ...(device.value.waitingFor ? { waitingFor: device.value.waitingFor } : {}),
        ...(device.value.waitingSince ? { waitingSince: device.value.waitingSince } : {}),
        ...(device.value.deadlineAt ? { deadlineAt: device.value.deadlineAt } : {}),
      },
      stage: 'accepted',
    };
    let saved: Versioned<DeviceRecord>;
    try {
      saved = await applyTransition(deps, log, device, {
        to: 'reprovisioning',
        reason: 'reprovision-requested',
        correlationId: input.correlationId,
        now,
        changes: {
          // Work queued for the device before the request (a supplier's re-tag) is stale from now on.
          generation: device.value.generation + 1,
          reprovision: request,
          waitingFor: 'reprovision',
          waitingSince: now.toISOString(),
          deadlineAt: new Date(now.getTime() + deps.deadlineMs).toISOString(),
          pollAttempt: 0,
        },
        detail: {
          requestId,
          action: ask.action,
          ticket: ask.ticket,
          ...(ask.groupTag !== undefined ? { groupTag: ask.groupTag } : {}),
          ...(ask.allowReimport !== undefined ? { allowReimport: ask.allowReimport } : {}),
        },
      });
    } catch (error) {
      if (error instanceof ConcurrencyConflictError) continue;
      throw error;
    }
    await send(deps, saved.value, requestId, input.correlationId);
    log.info(
      { event: EVENTS.reprovisionAccepted, requestId, action: ask.action, ticket: ask.ticket, from: device.value.state },
      `${ask.action} of ${input.serialNumber} accepted`,
    );
    return acceptedAnswer(saved.value, input, requestId);
  }
  throw new ConcurrencyConflictError('devices', input.serialNumber, 'device');
}

async function send(deps: AcceptDeps, device: DeviceRecord, requestId: string, correlationId: string): Promise<void> {
  await deps.queue.send(reprovisionQueue, [reprovisionMessage({ serialNumber: device.serialNumber, requestId }, correlationId)]);
}

function acceptedAnswer(device: DeviceRecord, input: ReprovisionInput, requestId: string): StoredAnswer {
  const body: AcceptedBody = {
    requestId,
    serial: device.serialNumber,
    action: input.ask.action,
    state: 'reprovisioning',
    statusUrl: input.statusUrl,
  };
  return { status: 202, body };
}
