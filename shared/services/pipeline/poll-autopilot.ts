import { EVENTS } from '../../events.js';
import type { AutopilotIdentity } from '../../domain/autopilot.js';
import { endsTurn, nextAutopilotStep, PROFILE_FAILED_NOTE, stateAfterRetag, type AutopilotStep } from '../../domain/autopilot-step.js';
import type { DeviceRecord } from '../../domain/device.js';
import { stallIfLate } from '../../domain/import-decision.js';
import { backoffMs, deadlineAt } from '../../domain/waiting.js';
import { ConcurrencyConflictError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { applyTransition } from '../device-lifecycle.js';
import type { GraphFailure } from '../graph-result.js';
import type { Versioned } from '../ports.js';
import type { PipelineDeps } from './context.js';
import { ensureTick, UNLOCKED, type PollRun, type TickPayload } from './ticks.js';
import { WATCHED } from './watched.js';
import { DEVICE_CONCURRENCY, DONE, forEachLimited, inPages, retryFor, type WorkResult } from './work.js';

/**
 * The Autopilot poll: reads the registered devices' Autopilot identities (beta, for the
 * profile-assignment status) and moves each on — group tag reconciled, profile assigned,
 * enrolled — or to `stalled` past its deadline. Many waiting devices: one paged listing
 * answers them all; a few: one read each is cheaper than listing the tenant.
 */
export async function pollAutopilot(
  deps: PipelineDeps,
  tick: TickPayload,
  correlationId: string,
  attempt: number,
  run: PollRun = UNLOCKED,
): Promise<WorkResult> {
  const log = deps.log.child({ correlationId, tick: tick.tick });
  // A page of waiting devices at a time, so memory stays flat however many wait.
  const pages = inPages(withAutopilotId(deps.devices.matching(WATCHED.autopilot)), deps.pollPageSize);
  try {
    const first = await pages.next();
    if (first.done) return DONE;
    // A few devices, all of them in the first page: one read each is cheaper than listing the tenant.
    const perDevice = first.value.length <= deps.perDeviceReadLimit && first.value.length < deps.pollPageSize;
    const identities = new Map<string, AutopilotIdentity>();
    // Reads that failed (not "not found"): those devices wait for the next poll.
    const unreadable = new Set<string>();
    let deferred: WorkResult | undefined;
    if (perDevice) {
      // A failed read only leaves that device for the next poll, and throttling stops the
      // reads but not the work on what was already read.
      for (const device of first.value) {
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

    let watched = 0;
    let unread = 0;
    let pageCount = 0;
    let lockLost = false;
    let progressed = 0;
    let stillWaiting = 0;
    for (let page: IteratorResult<Versioned<DeviceRecord>[]> = first; !page.done; page = await pages.next()) {
      // Another run has the lock: it reads Autopilot afresh and goes on with these devices.
      if (!(await run.stillHeld())) {
        lockLost = true;
        break;
      }
      pageCount++;
      watched += page.value.length;
      const notRead = new Set(page.value.filter((d) => !identities.has(d.value.autopilotId!)).map((d) => d.value.serialNumber));
      unread += notRead.size;
      await forEachLimited(page.value, DEVICE_CONCURRENCY, async (device) => {
        if ((deferred && notRead.has(device.value.serialNumber)) || unreadable.has(device.value.serialNumber)) {
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
    }

    if (lockLost) {
      // No successor: the run holding the lock now schedules the next.
      log.info(
        { event: EVENTS.autopilotPoll, watched, progressed, unread, pages: pageCount, lockLost },
        'Autopilot poll stopped: another run holds its lock',
      );
      return DONE;
    }
    if (deferred) {
      log.info({ event: EVENTS.autopilotPoll, watched, progressed, unread, pages: pageCount }, 'Autopilot poll partly done');
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
        watched,
        progressed,
        stillWaiting,
        pages: pageCount,
        read: perDevice ? 'per-device' : 'listing',
      },
      'Autopilot poll done',
    );
    return DONE;
  } finally {
    // Ends the device query when the run stops early (deferred, lock lost, or a failure).
    await pages.return(undefined);
  }
}

/** Waiting devices Autopilot knows by id: the only ones its identities can answer. */
async function* withAutopilotId(devices: AsyncIterable<Versioned<DeviceRecord>>): AsyncGenerator<Versioned<DeviceRecord>> {
  for await (const device of devices) if (device.value.autopilotId) yield device;
}

type Advanced = { moved: boolean; state: DeviceRecord['state']; failure?: GraphFailure };

/** Moves one device as far as its Autopilot identity allows: each step decided, carried out, decided again. */
export async function advance(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  identity: AutopilotIdentity | undefined,
  correlationId: string,
  log: Logger,
): Promise<Advanced> {
  let current = device;
  let moved = false;
  const now = deps.now();
  // Each step that does not end the turn changes what the next decision sees; a few rounds suffice.
  for (let round = 0; round < 8; round++) {
    // Taken over by the service desk meanwhile (re-read below): its request decides what happens now.
    if (current.value.state === 'reprovisioning') return { moved, state: current.value.state };
    const step = nextAutopilotStep(current.value, identity, now, deps.waits);
    if (endsTurn(step)) {
      if (step.kind === 'set-tag') {
        // Read the record again right before writing: a newer file may have changed the tag.
        const latest = await deps.devices.get(current.value.serialNumber);
        if (latest && latest.etag !== current.etag) {
          current = latest;
          continue;
        }
      }
      const ended = await endTurn(deps, current, identity, step, correlationId, log);
      return { ...ended, moved: moved || ended.moved };
    }
    current = await carryOut(deps, current, identity!, step, correlationId, log);
    moved ||= step.kind === 'profile-assigned';
  }
  return { moved, state: current.value.state };
}

/** The steps that change the record and let the device go on: a note, a cleared baseline, a profile assigned. */
async function carryOut(
  deps: PipelineDeps,
  current: Versioned<DeviceRecord>,
  identity: AutopilotIdentity,
  step: AutopilotStep,
  correlationId: string,
  log: Logger,
): Promise<Versioned<DeviceRecord>> {
  const now = deps.now();
  switch (step.kind) {
    case 'note-profile-failed': {
      const saved = await deps.devices.save({ ...current.value, note: PROFILE_FAILED_NOTE, updatedAt: now.toISOString() }, current);
      log.warn(
        { event: EVENTS.profileAssignmentFailed, serial: saved.value.serialNumber, groupTag: saved.value.groupTag ?? null },
        PROFILE_FAILED_NOTE,
      );
      return saved;
    }
    case 'clear-baseline':
      return deps.devices.save({ ...current.value, profileBaseline: undefined, updatedAt: now.toISOString() }, current);
    case 'profile-assigned':
      return applyTransition(deps, log, current, {
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
    default:
      throw new Error(`${step.kind} ends the device's turn`);
  }
}

/** The steps after which the poll moves on to the next device. */
async function endTurn(
  deps: PipelineDeps,
  current: Versioned<DeviceRecord>,
  identity: AutopilotIdentity | undefined,
  step: AutopilotStep,
  correlationId: string,
  log: Logger,
): Promise<Advanced> {
  const now = deps.now();
  switch (step.kind) {
    case 'wait':
      return { moved: false, state: current.value.state };
    case 'stall':
      await stall(deps, current, correlationId, log, identity);
      return { moved: true, state: 'stalled' };
    case 'stop-watching':
      await stopWatchingRetag(deps, current, step.why, log);
      return { moved: false, state: 'enrolled' };
    case 'set-tag': {
      const updated = await deps.graph.updateDeviceProperties(identity!.id, { groupTag: step.groupTag });
      if (updated.ok) return recordRetag(deps, current, identity!, step.groupTag, correlationId, log);
      log.warn({ event: EVENTS.retagDeferred, serial: current.value.serialNumber, kind: updated.kind }, 'group tag not updated this time');
      if (updated.kind === 'throttled' || stallIfLate(current.value, now) === 'wait') {
        return { moved: false, state: current.value.state, failure: updated };
      }
      // An enrolled device cannot stall (it is provisioned): past its deadline it stops being watched for the tag.
      if (current.value.state === 'enrolled') {
        await stopWatchingRetag(deps, current, 'the group tag could not be set by its deadline', log);
        return { moved: true, state: 'enrolled', failure: updated };
      }
      await stall(deps, current, correlationId, log, identity);
      return { moved: true, state: 'stalled', failure: updated };
    }
    case 'record-retag':
      return recordRetag(deps, current, identity!, step.groupTag, correlationId, log);
    case 'enrolled':
      await applyTransition(deps, log, current, {
        to: 'enrolled',
        reason: 'enrolled',
        correlationId,
        now,
        changes: { managedDeviceId: identity!.managedDeviceId, waitingFor: undefined, waitingSince: undefined, deadlineAt: undefined },
        detail: { managedDeviceId: identity!.managedDeviceId ?? null },
      });
      return { moved: true, state: 'enrolled' };
    default:
      throw new Error(`${step.kind} does not end the device's turn`);
  }
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
  const saved = await applyTransition(deps, log, current, {
    to: stateAfterRetag(from),
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
 * A waiting device past its deadline stalls. What Autopilot last showed goes with it (a
 * profile assignment that `failed`, a device that never contacted Intune), so operations
 * can see why without another lookup.
 */
async function stall(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  correlationId: string,
  log: Logger,
  identity: AutopilotIdentity | undefined,
): Promise<void> {
  await applyTransition(deps, log, device, {
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
}

/**
 * An enrolled device watched for a new group tag that cannot or need not be applied: it
 * stops being watched (a field update, not a transition; it stays enrolled).
 */
async function stopWatchingRetag(
  deps: PipelineDeps,
  device: Versioned<DeviceRecord>,
  why: string,
  log: Logger,
): Promise<{ moved: boolean; state: DeviceRecord['state'] }> {
  if (device.value.waitingFor !== undefined) {
    await deps.devices.save(
      { ...device.value, waitingFor: undefined, waitingSince: undefined, deadlineAt: undefined, updatedAt: deps.now().toISOString() },
      device,
    );
    log.warn(
      { event: EVENTS.retagDeferred, serial: device.value.serialNumber, groupTag: device.value.groupTag ?? null },
      `enrolled device no longer watched for its group tag: ${why}`,
    );
  }
  return { moved: false, state: 'enrolled' };
}
