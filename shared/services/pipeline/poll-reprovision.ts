import type { DeviceRecord } from '../../domain/device.js';
import { stallIfLate } from '../../domain/import-decision.js';
import {
  actionProgress,
  openRequest,
  remoteActionFor,
  retagProgress,
  wipeProgress,
  type Progress,
  type ReprovisionRequest,
} from '../../domain/reprovision.js';
import { backoffMs } from '../../domain/waiting.js';
import { ConcurrencyConflictError } from '../../errors.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import type { GraphFailure } from '../graph-result.js';
import type { Versioned } from '../ports.js';
import type { PipelineDeps } from './context.js';
import { completeRequest, readIdentity, refuseRequest, saveRequest, stallRequest } from './reprovision-steps.js';
import { ensureTick, type TickPayload } from './ticks.js';
import { isFollowedUp, WATCHED } from './watched.js';
import { DONE, retryFor, type WorkResult } from './work.js';

/**
 * The re-provisioning poll: follows every request whose Graph call was made until its
 * completion condition holds (product.md's action table), Graph refuses it, or its deadline
 * passes. Requests are few (the service desk's), so each is read on its own, one after the
 * other: a throttled read ends the run, which comes back when Graph allows.
 */
export async function pollReprovision(deps: PipelineDeps, tick: TickPayload, correlationId: string, attempt: number): Promise<WorkResult> {
  const log = deps.log.child({ correlationId, tick: tick.tick });
  const followed: Versioned<DeviceRecord>[] = [];
  for await (const device of deps.devices.matching(WATCHED.reprovision)) if (isFollowedUp(device.value)) followed.push(device);
  if (followed.length === 0) return DONE;

  let progressed = 0;
  let stillWaiting = 0;
  for (const device of followed) {
    const request = openRequest(device.value)!;
    let outcome: 'moved' | 'waiting' | GraphFailure;
    try {
      outcome = await followRequest(deps, device, request, correlationId, log);
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError))
        log.error(
          { event: EVENTS.deviceStepFailed, serial: device.value.serialNumber, err: error },
          're-provisioning poll could not handle a device',
        );
      outcome = 'waiting';
    }
    if (outcome === 'moved') progressed++;
    else if (outcome === 'waiting' || outcome.kind !== 'throttled') stillWaiting++;
    else {
      log.info({ event: EVENTS.reprovisionPoll, followed: followed.length, progressed }, 're-provisioning poll throttled');
      return retryFor(outcome, attempt, deps.retry, deps.now(), 'following re-provisioning requests');
    }
  }
  if (stillWaiting > 0) {
    const idle = progressed > 0 ? 0 : tick.idle + 1;
    const next = new Date(deps.now().getTime() + backoffMs(idle, deps.waits.firstPollMs, deps.waits.maxPollIntervalMs));
    await ensureTick(deps.ticks, 'reprovision', next, { idle, replacing: tick.at, correlationId });
  }
  log.info({ event: EVENTS.reprovisionPoll, followed: followed.length, progressed, stillWaiting }, 're-provisioning poll done');
  return DONE;
}

/** One request: what Graph shows now, and what that means. */
async function followRequest(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  correlationId: string,
  log: Logger,
): Promise<'moved' | 'waiting' | GraphFailure> {
  const progress = await observe(deps, device.value, request);
  if ('ok' in progress) {
    // A read that keeps failing (a missing permission, an outage) does not hold the request past its deadline; throttling only delays.
    if (progress.kind !== 'throttled' && stallIfLate(device.value, deps.now()) === 'stall') {
      await stallRequest(deps, device, request, correlationId, log);
      return 'moved';
    }
    return progress;
  }
  if (progress.kind === 'done') {
    await completeRequest(deps, device, request, correlationId, log, { managedDeviceId: progress.managedDeviceId });
    return 'moved';
  }
  if (progress.kind === 'refused') {
    await refuseRequest(deps, device, request, progress, correlationId, log);
    return 'moved';
  }
  if (stallIfLate(device.value, deps.now()) === 'stall') {
    await stallRequest(deps, device, request, correlationId, log);
    return 'moved';
  }
  if (request.action === 'deregister' && request.stage === 'managed-device-deleted') return retryIdentityDeletion(deps, device, request);
  return 'waiting';
}

/** Reads what the action's completion condition needs, and decides (a Graph failure when a read failed). */
async function observe(deps: PipelineDeps, device: DeviceRecord, request: ReprovisionRequest): Promise<Progress | GraphFailure> {
  switch (request.action) {
    case 'autopilot-reset':
    case 'fresh-start': {
      // The device the action went to: it stays the same managed device, or the action cannot complete.
      const managed = await deps.graph.getManagedDevice(request.managedDeviceId ?? '');
      if (!managed.ok && managed.kind !== 'not-found') return managed;
      return actionProgress(request, managed.ok ? managed.value : 'gone', remoteActionFor(request.action)!.action);
    }
    case 'wipe': {
      const identity = await readIdentity(deps, device);
      if (!identity.ok) return identity;
      const early = wipeProgress(request, identity.value, undefined);
      if (early.kind !== 'wait' || !request.managedDeviceId) return early;
      const old = await deps.graph.getManagedDevice(request.managedDeviceId);
      if (!old.ok && old.kind !== 'not-found') return old;
      return wipeProgress(request, identity.value, old.ok ? old.value : 'gone');
    }
    case 'retag': {
      const identity = await readIdentity(deps, device);
      if (!identity.ok) return identity;
      return retagProgress(request, identity.value, deps.now(), deps.waits.retagSettleMs);
    }
    case 'deregister': {
      const identity = await readIdentity(deps, device);
      if (!identity.ok) return identity;
      return identity.value === 'gone' ? { kind: 'done' } : { kind: 'wait' };
    }
  }
}

/** The identity is still there after its managed device went: ask Autopilot again to remove it. */
async function retryIdentityDeletion(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
): Promise<'waiting' | GraphFailure> {
  const identity = await readIdentity(deps, device.value);
  if (!identity.ok) return identity;
  if (identity.value === 'gone') return 'waiting';
  const removed = await deps.graph.deleteAutopilotIdentity(identity.value.id);
  if (removed.ok || removed.kind === 'not-found') {
    await saveRequest(deps, device, { ...request, stage: 'sent', sentAt: deps.now().toISOString() });
    return 'waiting';
  }
  return removed.kind === 'throttled' ? removed : 'waiting';
}
