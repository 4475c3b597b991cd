import { serialKey, type DeviceRecord } from '../../domain/device.js';
import { planRedrive, type RedrivePlan } from '../../domain/redrive.js';
import { deadlineAt } from '../../domain/waiting.js';
import { ConcurrencyConflictError } from '../../errors.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import type { RedrivePayload } from '../../messages/index.js';
import { applyTransition } from '../device-lifecycle.js';
import type { GraphFailure } from '../graph-result.js';
import type { Versioned } from '../ports.js';
import { HandOff } from './redrive-handoff.js';
import type { BatchRedrive, DeviceRedrive, RedriveDeps, RedriveSource } from './redrive-types.js';
import { afterImportCheck, AutopilotView, redriven } from './redrive-import.js';
import { requestFields } from './reprovision-steps.js';
import { DEVICE_CONCURRENCY, DONE, mapLimited, retryFor, type WorkResult } from './work.js';

/**
 * Re-driving stalled devices (product.md, "Re-drive"): the redrive routes, `ztp redrive`
 * (through them) and a repeat upload of a file all come here. Each stalled device's step starts
 * again with a fresh deadline, as `planRedrive` and `decideImportRedrive` decide: one
 * ETag-guarded transition per device (reason `redriven`), then the step's work is handed on —
 * an import message, a poll, the re-provisioning worker. A device stalled on its import is first
 * looked for in Autopilot (its imported record by import id, then its identity by serial) and
 * submitted again only when Autopilot never saw it, so a re-drive never registers a device twice.
 * Anything lost between a transition and its hand-off is picked up as everywhere else: the
 * sweeper re-queues `received` devices, revives polls and resends unstarted requests.
 */

export type { BatchRedrive, DeviceRedrive, RedriveDeps, RedriveSource } from './redrive-types.js';

/** Re-drives one device; undefined for a serial number no file ever brought. */
export async function redriveDevice(
  deps: RedriveDeps,
  serialNumber: string,
  correlationId: string,
  source: RedriveSource,
): Promise<DeviceRedrive | undefined> {
  const device = await deps.devices.get(serialNumber);
  if (!device) return undefined;
  const [outcome] = await redrive(deps, [device], correlationId, { source, serial: device.value.serialNumber });
  return outcome;
}

/**
 * Re-drives the stalled devices of a file (those whose latest file it is); undefined for an
 * unknown batch. `only`: just these serial numbers (a retry of the ones Autopilot could not be asked about).
 */
export async function redriveBatch(
  deps: RedriveDeps,
  batchId: string,
  correlationId: string,
  source: RedriveSource,
  only?: readonly string[],
): Promise<BatchRedrive | undefined> {
  const batch = await deps.batches.get(batchId);
  if (!batch) return undefined;
  const wanted = only ? new Set(only.map(serialKey)) : undefined;
  const devices: Versioned<DeviceRecord>[] = [];
  // Only the file's stalled devices are read (the table service filters them), in table order.
  for await (const device of deps.devices.matching([{ state: 'stalled', batchId }])) {
    if (!wanted || wanted.has(serialKey(device.value.serialNumber))) devices.push(device);
  }
  return { batchId, devices: await redrive(deps, devices, correlationId, { source, batchId }) };
}

/**
 * The `redrive` message a repeat upload queues: the file's stalled devices re-driven; those
 * Autopilot could not be asked about are tried again when Graph allows, and only they.
 */
export async function redriveUpload(
  deps: RedriveDeps,
  payload: RedrivePayload,
  correlationId: string,
  attempt: number,
): Promise<WorkResult> {
  const result = await redriveBatch(deps, payload.batchId, correlationId, 'upload', payload.serialNumbers);
  const deferred = (result?.devices ?? []).filter((device) => device.kind === 'deferred');
  const first = deferred[0];
  if (!first) return DONE;
  const retry = retryFor(first.failure, attempt, deps.retry, deps.now(), 're-driving stalled devices');
  if (retry.kind === 'done') return DONE;
  return { ...retry, payload: { batchId: payload.batchId, serialNumbers: deferred.map((d) => d.serialNumber) } };
}

/** How many times a device that changes under a re-drive is read and decided again. */
const ATTEMPTS = 3;

async function redrive(
  deps: RedriveDeps,
  devices: readonly Versioned<DeviceRecord>[],
  correlationId: string,
  scope: { readonly source: RedriveSource; readonly serial?: string; readonly batchId?: string },
): Promise<DeviceRedrive[]> {
  const log = deps.log.child({ correlationId });
  const autopilot = new AutopilotView(
    deps,
    devices.filter((device) => planRedrive(device.value).kind === 'check-autopilot'),
  );
  const handOff = new HandOff(deps, correlationId, log);
  // Table round trips overlap; Autopilot is read once for all of them (AutopilotView), and Graph calls queue for the budget.
  const outcomes = await mapLimited(devices, DEVICE_CONCURRENCY, (device) =>
    redriveOne(deps, device, autopilot, handOff, correlationId, log),
  );
  await handOff.send();

  const redriven = outcomes.filter((outcome) => outcome.kind === 'redriven');
  const files = new Set(devices.filter((_, index) => outcomes[index]?.kind === 'redriven').map((device) => device.value.batchId));
  for (const batchId of files) if (batchId) await reopen(deps, batchId, log);
  const deferred = outcomes.filter((outcome) => outcome.kind === 'deferred');
  log.info(
    {
      event: EVENTS.redriveRun,
      source: scope.source,
      ...(scope.serial !== undefined ? { serial: scope.serial } : {}),
      ...(scope.batchId !== undefined ? { batchId: scope.batchId } : {}),
      redriven: redriven.length,
      serials: redriven.map((outcome) => outcome.serialNumber),
      notStalled: outcomes.filter((outcome) => outcome.kind === 'not-stalled').length,
      deferred: deferred.map((outcome) => outcome.serialNumber),
    },
    `re-drive: ${redriven.length} re-driven, ${deferred.length} to try again`,
  );
  return outcomes;
}

/**
 * A settled file whose devices were re-driven waits for their new outcomes: it goes back to
 * `complete`, so the sweeper settles it again and rewrites its report with them.
 */
async function reopen(deps: RedriveDeps, batchId: string, log: Logger): Promise<void> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const batch = await deps.batches.get(batchId);
    if (batch?.value.status !== 'settled') return;
    try {
      await deps.batches.save({ ...batch.value, status: 'complete', settledAt: undefined }, batch.etag);
      log.info({ event: EVENTS.batchReopened, batchId }, `file ${batchId} reopened: re-driven devices wait for a new outcome`);
      return;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError)) throw error;
    }
  }
}

/** One device: decided and carried out, decided again from a fresh read when it changed meanwhile. */
async function redriveOne(
  deps: RedriveDeps,
  first: Versioned<DeviceRecord>,
  autopilot: AutopilotView,
  handOff: HandOff,
  correlationId: string,
  log: Logger,
): Promise<DeviceRedrive> {
  let device = first;
  for (let attempt = 1; ; attempt++) {
    const plan = planRedrive(device.value);
    try {
      if (plan.kind === 'not-stalled') return { kind: 'not-stalled', serialNumber: device.value.serialNumber, state: device.value.state };
      if (plan.kind !== 'check-autopilot') return await resume(deps, device, plan, handOff, correlationId, log);
      const seen = await autopilot.about(device.value);
      if (!seen.ok) return { kind: 'deferred', serialNumber: device.value.serialNumber, failure: seen.failure };
      return await afterImportCheck(deps, device, seen, handOff, correlationId, log);
    } catch (error) {
      if (!(error instanceof ConcurrencyConflictError)) throw error;
      const again = await deps.devices.get(device.value.serialNumber);
      if (!again) throw error;
      if (attempt >= ATTEMPTS) {
        const failure: GraphFailure = { ok: false, kind: 'transient', message: 'the device kept changing during the re-drive' };
        return { kind: 'deferred', serialNumber: device.value.serialNumber, failure };
      }
      device = again;
    }
  }
}

/** A step that needs no Autopilot lookup: back to its wait, for its poll or worker. */
async function resume(
  deps: RedriveDeps,
  device: Versioned<DeviceRecord>,
  plan: Extract<RedrivePlan, { kind: 'resume-autopilot' | 'resume-request' }>,
  handOff: HandOff,
  correlationId: string,
  log: Logger,
): Promise<DeviceRedrive> {
  const now = deps.now();
  const d = device.value;
  const since = now.toISOString();
  if (plan.kind === 'resume-autopilot') {
    const saved = await applyTransition(deps, log, device, {
      to: plan.to,
      reason: 'redriven',
      correlationId,
      now,
      changes: {
        waitingFor: plan.waitingFor,
        waitingSince: since,
        deadlineAt: deadlineAt(plan.waitingFor, now, deps.waits).toISOString(),
        pollAttempt: 0,
      },
      detail: { waitingFor: d.waitingFor, outcome: 'resumed' },
    });
    handOff.poll('autopilot');
    return redriven(saved.value, d.waitingFor, 'resumed');
  }
  const request = d.reprovision!;
  const saved = await applyTransition(deps, log, device, {
    to: 'reprovisioning',
    reason: 'redriven',
    correlationId,
    now,
    changes: {
      reprovision: { ...request, stage: plan.stage, stalledStage: undefined },
      waitingFor: 'reprovision',
      waitingSince: since,
      deadlineAt: deadlineAt('reprovision', now, deps.waits).toISOString(),
      pollAttempt: 0,
    },
    detail: { ...requestFields(request), waitingFor: 'reprovision', outcome: 'resumed', stage: plan.stage },
  });
  if (plan.follow === 'worker') handOff.reprovision(saved.value, request.requestId);
  else handOff.poll('reprovision');
  return redriven(saved.value, 'reprovision', 'resumed');
}
