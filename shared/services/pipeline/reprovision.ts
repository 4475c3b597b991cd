import type { DeviceRecord } from '../../domain/device.js';
import { stallIfLate } from '../../domain/import-decision.js';
import { actionBaseline, openRequest, redeliveredSend, remoteActionFor, type ReprovisionRequest } from '../../domain/reprovision.js';
import { ConcurrencyConflictError } from '../../errors.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import type { ReprovisionPayload } from '../../messages/index.js';
import type { GraphFailure } from '../graph-result.js';
import type { Versioned } from '../ports.js';
import type { PipelineDeps } from './context.js';
import {
  completeRequest,
  observedManagedDevice,
  readIdentity,
  readManagedDevice,
  refuseRequest,
  requestFields,
  saveRequest,
  stallRequest,
} from './reprovision-steps.js';
import { ensureTick } from './ticks.js';
import { DONE, retryFor, type WorkResult } from './work.js';

/**
 * The re-provisioning worker (`ztp-reprovision`): sends the Graph calls of one accepted
 * request, then leaves the waiting to the re-provisioning poll. A message for any other
 * request than the device's open one is stale and dropped; a throttled or failed call is
 * rescheduled like every Graph call; a permanent refusal returns the device to where it was.
 */
export async function carryOutRequest(
  deps: PipelineDeps,
  payload: ReprovisionPayload,
  correlationId: string,
  attempt: number,
): Promise<WorkResult> {
  const device = await deps.devices.get(payload.serialNumber);
  const request = device ? openRequest(device.value) : undefined;
  if (!device || !request || request.requestId !== payload.requestId || device.value.state !== 'reprovisioning') return DONE;
  const log = deps.log.child({ correlationId, serial: device.value.serialNumber, requestId: request.requestId });
  if (request.stage !== 'accepted' && request.stage !== 'sending') return followUp(deps, correlationId);
  try {
    if (stallIfLate(device.value, deps.now()) === 'stall') {
      await stallRequest(deps, device, request, correlationId, log);
      return DONE;
    }
    const failure =
      request.action === 'retag'
        ? await sendRetag(deps, device, request, correlationId, log)
        : request.action === 'deregister'
          ? await startDeregistration(deps, device, request, correlationId, log)
          : await sendRemoteAction(deps, device, request, correlationId, log);
    if (failure === 'wait') {
      // Another delivery is sending the action right now: look again once its claim has run out.
      return { kind: 'retry', at: new Date(deps.now().getTime() + deps.claimGraceMs), reason: 'throttled', detail: 'action being sent' };
    }
    if (failure) return retryFor(failure, attempt, deps.retry, deps.now(), `${request.action}: Graph call`);
  } catch (error) {
    // Another writer moved the record (a newer request, the poll): the next read decides again.
    if (!(error instanceof ConcurrencyConflictError)) throw error;
    return { kind: 'retry', at: new Date(deps.now().getTime() + deps.retry.firstRetryMs), reason: 'transient', detail: 'record changed' };
  }
  return followUp(deps, correlationId);
}

async function followUp(deps: PipelineDeps, correlationId: string): Promise<WorkResult> {
  await ensureTick(deps.ticks, 'reprovision', new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
  return DONE;
}

/** A failure that is worth waiting out (returned), or a refusal that ends the request (handled, undefined). */
async function settleFailure(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  failure: GraphFailure,
  refusal: { code: string; message: string },
  correlationId: string,
  log: Logger,
): Promise<GraphFailure | undefined> {
  if (failure.kind === 'throttled' || failure.kind === 'transient') return failure;
  const detail = failure.kind === 'permanent' ? ` (${failure.status} ${failure.code})` : '';
  await refuseRequest(deps, device, request, { code: refusal.code, message: `${refusal.message}${detail}` }, correlationId, log);
  return undefined;
}

function logSent(log: Logger, device: DeviceRecord, request: ReprovisionRequest, graphCall: string): void {
  log.info(
    { event: EVENTS.reprovisionActionSent, serial: device.serialNumber, ...requestFields(request), graphCall },
    `${request.action} of ${device.serialNumber}: ${graphCall} sent`,
  );
}

/**
 * Autopilot Reset, wipe, Fresh Start: one remote action on the managed device. The baseline
 * (the newest entry of that action before it is sent) is saved first: a redelivery that finds
 * an entry newer than it knows the action went through and does not send it again.
 */
async function sendRemoteAction(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  correlationId: string,
  log: Logger,
): Promise<GraphFailure | 'wait' | undefined> {
  const remote = remoteActionFor(request.action)!;
  const now = deps.now();
  // Redelivered after the intent was saved: only the device the action went to is looked at.
  const managed =
    request.stage === 'sending' && request.managedDeviceId
      ? observedManagedDevice(await deps.graph.getManagedDevice(request.managedDeviceId))
      : await readManagedDevice(deps, device.value, request.managedDeviceId ?? device.value.managedDeviceId);
  if (!managed.ok) {
    const refusal = { code: 'graph-refused', message: 'reading the managed device' };
    return settleFailure(deps, device, request, managed, refusal, correlationId, log);
  }
  const next =
    request.stage === 'sending' ? redeliveredSend(request, managed.value, remote.action, now) : managed.value === 'gone' ? 'gone' : 'send';
  if (next === 'wait') return 'wait';
  if (next === 'gone') {
    const gone = { code: 'managed-device-gone', message: 'Intune has no managed device for this serial number.' };
    await refuseRequest(deps, device, request, gone, correlationId, log);
    return undefined;
  }
  let current = device;
  let sending = request;
  if (next === 'send' && managed.value !== 'gone') {
    const target = managed.value;
    sending = {
      ...request,
      stage: 'sending',
      managedDeviceId: target.id,
      actionBaseline: request.stage === 'sending' ? request.actionBaseline : actionBaseline(target, remote.action),
      sendingUntil: new Date(now.getTime() + deps.claimGraceMs).toISOString(),
    };
    current = await saveRequest(deps, device, sending);
    const sent = await deps.graph.runManagedDeviceAction(target.id, remote);
    if (!sent.ok) {
      const refusal = { code: 'graph-refused', message: `Intune refused the ${remote.action} action` };
      return settleFailure(deps, current, sending, sent, refusal, correlationId, log);
    }
  }
  await saveRequest(deps, current, { ...sending, stage: 'sent', sendingUntil: undefined, sentAt: deps.now().toISOString() });
  logSent(log, device.value, request, `managedDevices/${remote.action}`);
  return undefined;
}

/** Re-tag: Autopilot's group tag set; the poll waits for a profile assigned for it. */
async function sendRetag(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  correlationId: string,
  log: Logger,
): Promise<GraphFailure | undefined> {
  const identity = await readIdentity(deps, device.value);
  if (!identity.ok) {
    return settleFailure(
      deps,
      device,
      request,
      identity,
      { code: 'graph-refused', message: 'reading the Autopilot identity' },
      correlationId,
      log,
    );
  }
  if (identity.value === 'gone') {
    await refuseRequest(
      deps,
      device,
      request,
      { code: 'not-in-autopilot', message: 'Autopilot no longer has the device.' },
      correlationId,
      log,
    );
    return undefined;
  }
  const groupTag = request.groupTag ?? '';
  const updated = await deps.graph.updateDeviceProperties(identity.value.id, { groupTag });
  if (!updated.ok) {
    return settleFailure(
      deps,
      device,
      request,
      updated,
      { code: 'graph-refused', message: 'Autopilot refused the group tag' },
      correlationId,
      log,
    );
  }
  const now = deps.now().toISOString();
  // The baseline is what Autopilot showed before this tag: unless the call had already been
  // made, an assignment for the new tag shows a newer time.
  const profileBaseline = request.profileBaseline ?? identity.value.deploymentProfileAssignedDateTime ?? 'none';
  await saveRequest(
    deps,
    device,
    { ...request, stage: 'sent', sentAt: now, profileBaseline },
    { groupTag: request.groupTag, autopilotGroupTag: request.groupTag, autopilotId: identity.value.id },
  );
  logSent(log, device.value, request, 'windowsAutopilotDeviceIdentities/updateDeviceProperties');
  return undefined;
}

/**
 * Deregistration, in the documented order: the Intune managed device first (the one the
 * Autopilot identity names, else the recorded one, else the newest for the serial), then the
 * Autopilot identity, which Graph refuses while its managed device exists. A device Autopilot
 * never had (failed on import, owned by another tenant) is deregistered at once; its import
 * record, if one is left, is deleted so that a late import cannot register it behind our back.
 */
async function startDeregistration(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  correlationId: string,
  log: Logger,
): Promise<GraphFailure | undefined> {
  const refusal = (message: string) => ({ code: 'graph-refused', message });
  const identity = await readIdentity(deps, device.value);
  if (!identity.ok) return settleFailure(deps, device, request, identity, refusal('reading the Autopilot identity'), correlationId, log);
  const named = identity.value === 'gone' ? undefined : identity.value.managedDeviceId;
  const managed = await readManagedDevice(deps, device.value, named ?? device.value.managedDeviceId);
  if (!managed.ok) return settleFailure(deps, device, request, managed, refusal('reading the managed device'), correlationId, log);
  if (managed.value !== 'gone') {
    const deleted = await deps.graph.deleteManagedDevice(managed.value.id);
    if (!deleted.ok && deleted.kind !== 'not-found') {
      return settleFailure(deps, device, request, deleted, refusal('Intune refused to delete the managed device'), correlationId, log);
    }
    logSent(log, device.value, request, 'DELETE managedDevices');
  }
  if (device.value.importedIdentityId) {
    const cleared = await deps.graph.deleteImportedIdentity(device.value.importedIdentityId);
    if (!cleared.ok && cleared.kind === 'throttled') return cleared;
  }
  const current = await saveRequest(deps, device, { ...request, stage: 'managed-device-deleted', managedDeviceId: undefined });
  if (identity.value === 'gone') {
    await completeRequest(deps, current, current.value.reprovision!, correlationId, log);
    return undefined;
  }
  // Refused or failed: the poll asks again (Intune may take a moment to let go of the device).
  const removed = await deps.graph.deleteAutopilotIdentity(identity.value.id);
  if (removed.ok || removed.kind === 'not-found') {
    await saveRequest(deps, current, { ...current.value.reprovision!, stage: 'sent', sentAt: deps.now().toISOString() });
    logSent(log, device.value, request, 'DELETE windowsAutopilotDeviceIdentities');
  }
  return removed.ok || removed.kind !== 'throttled' ? undefined : removed;
}
