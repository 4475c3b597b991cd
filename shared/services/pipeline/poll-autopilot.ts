import { EVENTS } from '../../events.js';
import type { AutopilotIdentity } from '../../domain/autopilot.js';
import { isEnrolled, isProfileAssigned } from '../../domain/autopilot-outcomes.js';
import type { DeviceRecord } from '../../domain/device.js';
import { backoffMs, deadlineAt, isPastDeadline } from '../../domain/waiting.js';
import { ConcurrencyConflictError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { applyTransition } from '../device-lifecycle.js';
import type { GraphFailure } from '../graph-result.js';
import type { Versioned } from '../ports.js';
import type { PipelineDeps } from './context.js';
import { ensureTick, type TickPayload } from './ticks.js';
import { WATCHED } from './watched.js';
import { DEVICE_CONCURRENCY, DONE, forEachLimited, retryFor, type WorkResult } from './work.js';

/**
 * The Autopilot poll: reads the registered devices' Autopilot identities (beta, for the
 * profile-assignment status) and moves each on — group tag reconciled, profile assigned,
 * enrolled — or to `stalled` past its deadline. Many waiting devices: one paged listing
 * answers them all; a few: one read each is cheaper than listing the tenant.
 */
const PROFILE_FAILED_NOTE =
  'Autopilot reports that assigning a deployment profile failed: check the profile and the groups it is assigned to';

export async function pollAutopilot(deps: PipelineDeps, tick: TickPayload, correlationId: string, attempt: number): Promise<WorkResult> {
  const log = deps.log.child({ correlationId, tick: tick.tick });
  const waiting: Versioned<DeviceRecord>[] = [];
  for await (const device of deps.devices.matching(WATCHED.autopilot)) if (device.value.autopilotId) waiting.push(device);
  if (waiting.length === 0) return DONE;

  const identities = new Map<string, AutopilotIdentity>();
  // Reads that failed (not "not found"): those devices wait for the next poll.
  const unreadable = new Set<string>();
  let deferred: WorkResult | undefined;
  if (waiting.length <= deps.perDeviceReadLimit) {
    // One read each; a failed read only leaves that device for the next poll, and
    // throttling stops the reads but not the work on what was already read.
    for (const device of waiting) {
      const read = await deps.graph.getAutopilotIdentity(device.value.autopilotId!);
      if (read.ok) identities.set(read.value.id, read.value);
      else if (read.kind === 'throttled') {
        deferred = retryFor(read, attempt, deps.retry, deps.now(), 'reading Autopilot identities');
        break;
      } else if (read.kind !== 'not-found') unreadable.add(device.value.serialNumber);
      // Not found: Autopilot no longer has the device; its deadline still applies.
    }
  } else {
    const listed = await deps.graph.listAutopilotIdentities();
    if (!listed.ok) return retryFor(listed, attempt, deps.retry, deps.now(), 'listing Autopilot identities');
    for (const identity of listed.value) identities.set(identity.id, identity);
  }
  const unread = new Set(waiting.filter((d) => !identities.has(d.value.autopilotId!)).map((d) => d.value.serialNumber));

  let progressed = 0;
  let stillWaiting = 0;
  await forEachLimited(waiting, DEVICE_CONCURRENCY, async (device) => {
    if ((deferred && unread.has(device.value.serialNumber)) || unreadable.has(device.value.serialNumber)) {
      stillWaiting++;
      return;
    }
    try {
      const { moved, state, failure } = await advance(deps, device, identities.get(device.value.autopilotId!), correlationId, log);
      if (moved) progressed++;
      if (failure?.kind === 'throttled') deferred ??= retryFor(failure, attempt, deps.retry, deps.now(), 'updating group tags');
      // A re-tag recorded meanwhile asks for its own run (the retag handler ensures the poll).
      if (state !== 'enrolled' && state !== 'failed') stillWaiting++;
    } catch (error) {
      // Changed under us, or one device's trouble: the next poll looks again; the others go on.
      if (!(error instanceof ConcurrencyConflictError))
        log.error(
          { event: EVENTS.deviceStepFailed, serial: device.value.serialNumber, err: error },
          'Autopilot poll could not handle a device',
        );
      stillWaiting++;
    }
  });

  if (deferred) {
    log.info({ event: EVENTS.autopilotPoll, watched: waiting.length, progressed, unread: unread.size }, 'Autopilot poll partly done');
    return deferred;
  }
  if (stillWaiting > 0) {
    const idle = progressed > 0 ? 0 : tick.idle + 1;
    const next = new Date(deps.now().getTime() + backoffMs(idle, deps.waits.firstPollMs, deps.waits.maxPollIntervalMs));
    await ensureTick(deps.ticks, 'autopilot', next, { idle, replacing: tick.at, correlationId });
  }
  log.info(
    {
      event: EVENTS.autopilotPoll,
      watched: waiting.length,
      progressed,
      stillWaiting,
      read: waiting.length <= deps.perDeviceReadLimit ? 'per-device' : 'listing',
    },
    'Autopilot poll done',
  );
  return DONE;
}

/** Moves one device as far as its Autopilot identity allows: tag, profile, enrolment, deadline. */
export async function advance(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  identity: AutopilotIdentity | undefined,
  correlationId: string,
  log: Logger,
): Promise<{ moved: boolean; state: DeviceRecord['state']; failure?: GraphFailure }> {
  let current = device;
  const now = deps.now();
  if (!identity) {
    if (current.value.state === 'enrolled') return giveUpRetag(deps, current, 'the device is no longer in Autopilot', log);
    return stallIfLate(deps, current, correlationId, log);
  }

  let wanted = current.value.groupTag ?? '';
  const inAutopilot = identity.groupTag ?? '';
  if (inAutopilot !== wanted) {
    // Read the record again right before writing: a newer file may have changed the tag.
    const latest = await deps.devices.get(current.value.serialNumber);
    if (latest && latest.etag !== current.etag) {
      current = latest;
      wanted = current.value.groupTag ?? '';
    }
  }
  if (inAutopilot !== wanted) {
    const updated = await deps.graph.updateDeviceProperties(identity.id, { groupTag: wanted });
    if (!updated.ok) {
      log.warn({ event: EVENTS.retagDeferred, serial: current.value.serialNumber, kind: updated.kind }, 'group tag not updated this time');
      if (updated.kind === 'throttled') return { moved: false, state: current.value.state, failure: updated };
      return { ...(await stallIfLate(deps, current, correlationId, log, identity)), failure: updated };
    }
    return recordRetag(deps, current, identity, wanted, correlationId, log);
  }
  if ((current.value.autopilotGroupTag ?? '') !== wanted) {
    // Autopilot has the tag but the record does not say so (the update went through, the save
    // did not): record it now, and wait for the profile as after any re-tag.
    return recordRetag(deps, current, identity, wanted, correlationId, log);
  }

  if (current.value.state === 'enrolled') return giveUpRetag(deps, current, 'Autopilot already has the group tag', log);

  let moved = false;
  const assigned = isProfileAssigned(identity.deploymentProfileAssignmentStatus);
  if (identity.deploymentProfileAssignmentStatus === 'failed' && current.value.note !== PROFILE_FAILED_NOTE) {
    // Said once, on the record and in the log, well before the deadline stalls the device;
    // it keeps waiting, as an assignment fixed in Intune still counts.
    current = await deps.devices.save({ ...current.value, note: PROFILE_FAILED_NOTE, updatedAt: now.toISOString() }, current.etag);
    log.warn(
      { event: EVENTS.profileAssignmentFailed, serial: current.value.serialNumber, groupTag: current.value.groupTag ?? null },
      PROFILE_FAILED_NOTE,
    );
  }
  const baseline = current.value.profileBaseline;
  if (baseline !== undefined && !assigned) {
    // The re-tag has visibly taken effect: the next assignment is the new one.
    current = await deps.devices.save({ ...current.value, profileBaseline: undefined, updatedAt: now.toISOString() }, current.etag);
  }
  const since = Date.parse(current.value.waitingSince ?? current.value.updatedAt);
  const settled = now.getTime() - since >= deps.waits.retagSettleMs;
  const freshAssignment =
    current.value.profileBaseline === undefined ||
    (identity.deploymentProfileAssignedDateTime ?? 'none') !== current.value.profileBaseline ||
    settled;
  if ((current.value.state === 'registered' || current.value.waitingFor === 'profile-assignment') && assigned && freshAssignment) {
    current = await applyTransition(deps.devices, log, current, {
      to: 'profile-assigned',
      reason: 'profile-assigned',
      correlationId,
      now,
      changes: {
        autopilotGroupTag: identity.groupTag || undefined,
        ...(current.value.note === PROFILE_FAILED_NOTE ? { note: undefined } : {}),
        waitingFor: 'enrolment',
        waitingSince: now.toISOString(),
        deadlineAt: deadlineAt('enrolment', now, deps.waits).toISOString(),
      },
      detail: { profileStatus: identity.deploymentProfileAssignmentStatus, assignedAt: identity.deploymentProfileAssignedDateTime },
    });
    moved = true;
  }
  if ((current.value.state === 'profile-assigned' || current.value.waitingFor === 'enrolment') && isEnrolled(identity.enrollmentState)) {
    await applyTransition(deps.devices, log, current, {
      to: 'enrolled',
      reason: 'enrolled',
      correlationId,
      now,
      changes: { managedDeviceId: identity.managedDeviceId, waitingFor: undefined, waitingSince: undefined, deadlineAt: undefined },
      detail: { managedDeviceId: identity.managedDeviceId ?? null },
    });
    return { moved: true, state: 'enrolled' };
  }
  if (moved) return { moved, state: current.value.state };
  return stallIfLate(deps, current, correlationId, log, identity);
}

async function recordRetag(
  deps: PipelineDeps,
  current: Versioned<DeviceRecord>,
  identity: AutopilotIdentity,
  wanted: string,
  correlationId: string,
  log: Logger,
): Promise<{ moved: boolean; state: DeviceRecord['state'] }> {
  const now = deps.now();
  const from = current.value.state;
  const saved = await applyTransition(deps.devices, log, current, {
    to: from === 'stalled' || from === 'profile-assigned' || from === 'enrolled' ? 'registered' : from,
    reason: 'group-tag-changed',
    correlationId,
    now,
    changes: {
      autopilotGroupTag: wanted,
      profileBaseline: identity.deploymentProfileAssignedDateTime ?? 'none',
      waitingFor: 'profile-assignment',
      waitingSince: now.toISOString(),
      deadlineAt: deadlineAt('profile-assignment', now, deps.waits).toISOString(),
    },
    detail: { previousGroupTag: current.value.autopilotGroupTag ?? null, groupTag: wanted },
  });
  return { moved: true, state: saved.value.state };
}

/**
 * Past its deadline, a waiting device stalls. What Autopilot last showed goes with it (a
 * profile assignment that `failed`, a device that never contacted Intune), so operations
 * can see why without another lookup.
 */
async function stallIfLate(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  correlationId: string,
  log: Logger,
  identity?: AutopilotIdentity,
): Promise<{ moved: boolean; state: DeviceRecord['state'] }> {
  if (device.value.state === 'stalled' || !isPastDeadline(device.value.deadlineAt, deps.now()))
    return { moved: false, state: device.value.state };
  await applyTransition(deps.devices, log, device, {
    to: 'stalled',
    reason: 'deadline-passed',
    correlationId,
    now: deps.now(),
    detail: {
      waitingFor: device.value.waitingFor ?? null,
      deadlineAt: device.value.deadlineAt,
      ...(identity
        ? { profileStatus: identity.deploymentProfileAssignmentStatus ?? null, enrollmentState: identity.enrollmentState }
        : { inAutopilot: false }),
    },
  });
  return { moved: true, state: 'stalled' };
}

/**
 * An enrolled device watched for a new group tag that cannot or need not be applied: it
 * stops being watched (a field update, not a transition; it stays enrolled).
 */
async function giveUpRetag(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  why: string,
  log: Logger,
): Promise<{ moved: boolean; state: DeviceRecord['state'] }> {
  if (device.value.waitingFor !== undefined) {
    await deps.devices.save(
      { ...device.value, waitingFor: undefined, waitingSince: undefined, deadlineAt: undefined, updatedAt: deps.now().toISOString() },
      device.etag,
    );
    log.warn(
      { event: EVENTS.retagDeferred, serial: device.value.serialNumber, groupTag: device.value.groupTag ?? null },
      `enrolled device no longer watched for its group tag: ${why}`,
    );
  }
  return { moved: false, state: 'enrolled' };
}
