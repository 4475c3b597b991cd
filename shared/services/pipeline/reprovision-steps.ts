import type { AutopilotIdentity, ManagedDevice } from '../../domain/autopilot.js';
import { isTagPending } from '../../domain/autopilot-step.js';
import type { DeviceRecord } from '../../domain/device.js';
import { stateAfterReprovision } from '../../domain/lifecycle.js';
import type { ReprovisionRequest } from '../../domain/reprovision.js';
import { deadlineAt } from '../../domain/waiting.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import { applyTransition } from '../device-lifecycle.js';
import type { GraphFailure, GraphResult } from '../graph-result.js';
import type { Versioned } from '../ports.js';
import type { PipelineDeps } from './context.js';
import { ensureTick } from './ticks.js';
import { pollWaitedOn } from './watched.js';

/**
 * What the re-provisioning worker and its poll both do with a request: record how far it got,
 * end it (done, refused, stalled), and read what Graph shows of the device. Every end is one
 * guarded transition with its history event (carrying the request id and ticket) and one
 * `reprovision.*` log event; neither ever carries who asked.
 */

/** The request's identifying fields, as history events and log events carry them. */
export function requestFields(request: ReprovisionRequest): { requestId: string; action: string; ticket: string } {
  return { requestId: request.requestId, action: request.action, ticket: request.ticket };
}

/** Records the request's progress (a field update, not a transition). */
export async function saveRequest(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  changes: Partial<DeviceRecord> = {},
): Promise<Versioned<DeviceRecord>> {
  return deps.devices.save({ ...device.value, ...changes, reprovision: request, updatedAt: deps.now().toISOString() }, device);
}

/** The request took effect: the device moves to the action's end state. */
export async function completeRequest(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  correlationId: string,
  log: Logger,
  observed: { managedDeviceId?: string | undefined } = {},
): Promise<void> {
  const now = deps.now();
  const to = stateAfterReprovision(request.action, request.fromState);
  const since = now.toISOString();
  // A supplier's new tag recorded before the request and not yet in Autopilot: the Autopilot poll takes it up again.
  const tagPending = to === 'enrolled' && request.action !== 'retag' && isTagPending(device.value);
  const waiting =
    to === 'profile-assigned'
      ? { waitingFor: 'enrolment' as const, waitingSince: since, deadlineAt: deadlineAt('enrolment', now, deps.waits).toISOString() }
      : tagPending
        ? { waitingFor: 'group-tag' as const, waitingSince: since, deadlineAt: deadlineAt('group-tag', now, deps.waits).toISOString() }
        : { waitingFor: undefined, waitingSince: undefined, deadlineAt: undefined };
  const identities =
    request.action === 'deregister'
      ? { autopilotId: undefined, managedDeviceId: undefined, importedIdentityId: undefined }
      : observed.managedDeviceId
        ? { managedDeviceId: observed.managedDeviceId }
        : {};
  const saved = await applyTransition(deps, log, device, {
    to,
    reason: request.action === 'deregister' ? 'deregistered' : 'reprovision-complete',
    correlationId,
    now,
    changes: { ...waiting, ...identities, pollAttempt: 0, reprovision: { ...request, stage: 'done' } },
    detail: { ...requestFields(request), ...(observed.managedDeviceId ? { managedDeviceId: observed.managedDeviceId } : {}) },
  });
  log.info(
    { event: EVENTS.reprovisionCompleted, serial: device.value.serialNumber, ...requestFields(request), state: to },
    `${request.action} of ${device.value.serialNumber} done: ${to}`,
  );
  await resumeProvisioning(deps, saved.value, correlationId);
}

/** A device back in a waiting state (a re-tag before enrolment, a refusal) is watched again by its poll. */
async function resumeProvisioning(deps: PipelineDeps, device: DeviceRecord, correlationId: string): Promise<void> {
  const poll = pollWaitedOn(device);
  if (poll === undefined || poll === 'reprovision') return;
  await ensureTick(deps.ticks, poll, new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
}

/** Graph refused for good: the device returns to the state it came from, waiting as it was. */
export async function refuseRequest(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  failure: { code: string; message: string },
  correlationId: string,
  log: Logger,
): Promise<void> {
  const previous = request.fromWaiting ?? {};
  const saved = await applyTransition(deps, log, device, {
    to: request.fromState,
    reason: 'reprovision-failed',
    correlationId,
    now: deps.now(),
    changes: {
      waitingFor: previous.waitingFor,
      waitingSince: previous.waitingSince,
      deadlineAt: previous.deadlineAt,
      reprovision: { ...request, stage: 'failed', failure: failure.code },
    },
    detail: { ...requestFields(request), failure: failure.code, message: failure.message },
  });
  log.warn(
    {
      event: EVENTS.reprovisionFailed,
      serial: device.value.serialNumber,
      ...requestFields(request),
      failure: failure.code,
      state: request.fromState,
    },
    `${request.action} of ${device.value.serialNumber} refused: ${failure.message}`,
  );
  await resumeProvisioning(deps, saved.value, correlationId);
}

/** Past ZTP_REPROVISION_DEADLINE_HOURS: stalled, still showing the request, for operations. */
export async function stallRequest(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  request: ReprovisionRequest,
  correlationId: string,
  log: Logger,
): Promise<void> {
  await applyTransition(deps, log, device, {
    to: 'stalled',
    reason: 'deadline-passed',
    correlationId,
    now: deps.now(),
    changes: { reprovision: { ...request, stage: 'stalled', stalledStage: request.stage } },
    detail: { ...requestFields(request), waitingFor: 'reprovision', deadlineAt: device.value.deadlineAt, stage: request.stage },
  });
  log.warn(
    { event: EVENTS.reprovisionStalled, serial: device.value.serialNumber, ...requestFields(request), stage: request.stage },
    `${request.action} of ${device.value.serialNumber} did not take effect by its deadline`,
  );
}

/** A read whose "not found" is an answer (`gone`), not a failure. */
export type Observed<T> = { ok: true; value: T | 'gone' } | GraphFailure;

export function observedManagedDevice(read: GraphResult<ManagedDevice>): Observed<ManagedDevice> {
  return observed(read);
}

function observed<T>(read: GraphResult<T | undefined>): Observed<T> {
  if (read.ok) return { ok: true, value: read.value ?? 'gone' };
  return read.kind === 'not-found' ? { ok: true, value: 'gone' } : read;
}

/** The device's Autopilot identity: by its id, or by serial when the record has none. */
export async function readIdentity(deps: PipelineDeps, device: DeviceRecord): Promise<Observed<AutopilotIdentity>> {
  if (device.autopilotId) return observed(await deps.graph.getAutopilotIdentity(device.autopilotId));
  const found = await deps.graph.findAutopilotIdentityBySerial(device.serialNumber);
  if (!found.ok || !found.value) return observed(found);
  // The serial search reads v1.0; the profile fields come from beta.
  return observed(await deps.graph.getAutopilotIdentity(found.value.id));
}

/** The Intune managed device: the one recorded when it still exists, else the newest for the serial. */
export async function readManagedDevice(
  deps: PipelineDeps,
  device: DeviceRecord,
  id: string | undefined,
): Promise<Observed<ManagedDevice>> {
  if (id) {
    const read = observed(await deps.graph.getManagedDevice(id));
    if (!read.ok || read.value !== 'gone') return read;
  }
  return observed(await deps.graph.findManagedDeviceBySerial(device.serialNumber));
}
