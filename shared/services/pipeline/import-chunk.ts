import { randomUUID } from 'node:crypto';
import { EVENTS } from '../../events.js';
import type { ImportDeviceInput } from '../../domain/autopilot.js';
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
    // The adapter sends Graph-sized chunks in turn and says which it got through.
    const submitted = await deps.graph.importDevices(toSubmit.map(importInput));
    const accepted = new Set((submitted.ok ? submitted.value : submitted.imported).map((record) => record.importId));
    for (const device of toSubmit) if (!accepted.has(device.value.importId!)) claims[device.value.serialNumber] = device.value.importId!;
    if (!submitted.ok) {
      // Only a 400 is Autopilot refusing the request itself; and only the chunk it refused —
      // the chunks after it were never sent. Anything else is retried and reconciled.
      if (submitted.kind === 'permanent' && submitted.status === 400) {
        log.error({ event: EVENTS.importRefused, status: submitted.status, code: submitted.code }, 'Autopilot refused an import request');
        const refused = new Set(submitted.notSubmitted.slice(0, deps.importRequestSize).map((input) => input.importId));
        for (const device of toSubmit)
          if (refused.has(device.value.importId))
            await failDevice(deps, device, correlationId, `${submitted.status} ${submitted.code}`, log);
        if (submitted.notSubmitted.length > refused.size)
          deferred ??= retryFor(
            { ok: false, kind: 'transient', message: 'import chunks after a refused one' },
            attempt,
            deps.retry,
            deps.now(),
            'importing devices',
          );
      } else {
        // Claimed devices stay `importing` without a record: the retry reconciles them.
        deferred ??= retryFor(
          submitted.kind === 'permanent' ? { ok: false, kind: 'transient', message: `${submitted.status} ${submitted.code}` } : submitted,
          attempt,
          deps.retry,
          deps.now(),
          'importing devices',
        );
      }
    }
  }
  await ensureTick(deps.ticks, 'imports', new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
  if (!deferred || deferred.kind === 'done') return DONE;
  // Claims this work still holds (and those it held before) travel with its retry.
  claims = { ...Object.fromEntries(Object.entries(own).filter(([serial]) => payload.serialNumbers.includes(serial))), ...claims };
  return { ...deferred, payload: { ...payload, claims } };
}

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
    return await deps.devices.save({ ...device.value, importId: newImportId(deps), waitingSince: now, updatedAt: now }, device.etag);
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
  code: string,
  log: Logger,
): Promise<void> {
  try {
    await applyTransition(deps, log, device, {
      to: 'failed',
      reason: 'autopilot-error',
      correlationId,
      now: deps.now(),
      changes: {
        reasons: ['autopilot-error'],
        note: `Autopilot refused the import: ${code}`,
        waitingFor: undefined,
        deadlineAt: undefined,
      },
      detail: { code },
    });
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError)) throw error;
  }
}
