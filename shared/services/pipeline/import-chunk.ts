import { randomUUID } from 'node:crypto';
import { EVENTS } from '../../events.js';
import type { Versioned } from '../../adapters/tables/device-repository.js';
import type { ImportDeviceInput, ImportedIdentity } from '../../adapters/graph/types.js';
import type { DeviceRecord } from '../../domain/device.js';
import { deadlineAt } from '../../domain/waiting.js';
import { ConcurrencyConflictError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { applyTransition } from '../device-lifecycle.js';
import type { ImportChunkPayload } from '../intake.js';
import type { PipelineDeps } from './context.js';
import { ensureTick } from './ticks.js';
import { DONE, retryFor, type WorkResult } from './work.js';

/** Marks the product's own imported records, so clean-up never touches other tools' records. */
export const IMPORT_ID_PREFIX = 'ztp-';

export function newImportId(): string {
  return `${IMPORT_ID_PREFIX}${randomUUID()}`;
}

/**
 * Submits a chunk of received devices to Autopilot with the batch import action.
 *
 * Devices are claimed (received -> importing, with a fresh importId) before Graph is called,
 * so two deliveries never submit the same device twice. A device claimed earlier whose
 * import was never confirmed (crash, throttling, timeout) is first looked up among the
 * imported records by its importId: only a device Autopilot has not seen is submitted again.
 */
export async function importChunk(deps: PipelineDeps, payload: ImportChunkPayload, correlationId: string, attempt: number): Promise<WorkResult> {
  const log = deps.log.child({ correlationId, batchId: payload.batchId, chunk: payload.chunk });
  const fresh: Versioned<DeviceRecord>[] = [];
  const unconfirmed: Versioned<DeviceRecord>[] = [];
  for (const serialNumber of payload.serialNumbers) {
    const device = await deps.devices.get(serialNumber);
    if (!device) continue;
    if (device.value.state === 'received') fresh.push(device);
    else if (device.value.state === 'importing' && !device.value.importedIdentityId) unconfirmed.push(device);
  }
  if (fresh.length === 0 && unconfirmed.length === 0) return DONE;

  let toSubmit: Versioned<DeviceRecord>[] = [];
  if (unconfirmed.length > 0) {
    const listed = await deps.graph.listImportedIdentities();
    if (!listed.ok) return retryFor(listed, attempt, deps.retry, deps.now(), 'listing imported identities');
    const byImportId = new Map(listed.value.map((record) => [record.importId, record]));
    for (const device of unconfirmed) {
      const record = device.value.importId ? byImportId.get(device.value.importId) : undefined;
      if (record) await confirm(deps, device, record, log);
      else toSubmit.push(device);
    }
  }
  for (const device of fresh) {
    const claimed = await claim(deps, device, correlationId, log);
    if (claimed) toSubmit.push(claimed);
  }
  toSubmit = toSubmit.filter((device) => device.value.importId);

  if (toSubmit.length > 0) {
    // The adapter sends Graph-sized chunks in turn and says which it got through.
    const submitted = await deps.graph.importDevices(toSubmit.map(importInput));
    const accepted = submitted.ok ? submitted.value : submitted.imported;
    const byImportId = new Map(accepted.map((record) => [record.importId, record]));
    for (const device of toSubmit) {
      const record = byImportId.get(device.value.importId!);
      if (record) await confirm(deps, device, record, log);
    }
    if (!submitted.ok) {
      if (submitted.kind !== 'permanent') {
        // Claimed devices stay `importing` without a confirmed record: the retry reconciles them.
        await ensureTick(deps.ticks, 'imports', new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
        return retryFor(submitted, attempt, deps.retry, deps.now(), 'importing devices');
      }
      log.error({ event: EVENTS.importRefused, status: submitted.status, code: submitted.code }, `Autopilot refused the import request: ${submitted.message}`);
      const refused = new Set(submitted.notSubmitted.map((input) => input.importId));
      for (const device of toSubmit) if (refused.has(device.value.importId)) await failDevice(deps, device, correlationId, `${submitted.status} ${submitted.code}`, log);
    }
  }
  await ensureTick(deps.ticks, 'imports', new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
  return DONE;
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

async function claim(deps: PipelineDeps, device: Versioned<DeviceRecord>, correlationId: string, log: Logger): Promise<Versioned<DeviceRecord> | undefined> {
  const now = deps.now();
  try {
    return await applyTransition(deps.devices, log, device, {
      to: 'importing',
      reason: 'import-submitted',
      correlationId,
      now,
      changes: {
        importId: newImportId(),
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

/** Records which imported record tracks the device. A field update, not a transition. */
async function confirm(deps: PipelineDeps, device: Versioned<DeviceRecord>, record: ImportedIdentity, log: Logger): Promise<void> {
  try {
    await deps.devices.save({ ...device.value, importedIdentityId: record.id, updatedAt: deps.now().toISOString() }, device.etag);
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError)) throw error;
    log.warn({ event: EVENTS.conflict, serial: device.value.serialNumber }, 'device changed while recording its import; the poll reconciles it by importId');
  }
}

async function failDevice(deps: PipelineDeps, device: Versioned<DeviceRecord>, correlationId: string, code: string, log: Logger): Promise<void> {
  try {
    await applyTransition(deps.devices, log, device, {
      to: 'failed',
      reason: 'autopilot-error',
      correlationId,
      now: deps.now(),
      changes: { reasons: ['autopilot-error'], note: `Autopilot refused the import: ${code}`, waitingFor: undefined, deadlineAt: undefined },
      detail: { code },
    });
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError)) throw error;
  }
}
