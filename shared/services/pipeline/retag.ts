import { isTagPending } from '../../domain/autopilot-step.js';
import { ConcurrencyConflictError } from '../../errors.js';
import type { RetagPayload } from '../../messages/index.js';
import type { PipelineDeps } from './context.js';
import { advance } from './poll-autopilot.js';
import { ensureTick } from './ticks.js';
import { DONE, retryFor, type WorkResult } from './work.js';

/**
 * A known device got a new group tag from a supplier file. Devices not yet in Autopilot
 * carry the tag with their import; registered ones (enrolled included) are re-tagged now
 * and wait again for their profile. Work for an older generation of the device is stale.
 */
export async function retag(deps: PipelineDeps, payload: RetagPayload, correlationId: string, attempt: number): Promise<WorkResult> {
  const log = deps.log.child({ correlationId, serial: payload.serialNumber });
  const device = await deps.devices.get(payload.serialNumber);
  if (!device || device.value.generation > payload.generation || !device.value.autopilotId) return DONE;
  if (!isTagPending(device.value)) return DONE;
  const read = await deps.graph.getAutopilotIdentity(device.value.autopilotId);
  if (!read.ok) {
    if (read.kind === 'not-found') return DONE;
    return retryFor(read, attempt, deps.retry, deps.now(), 'reading the Autopilot identity');
  }
  try {
    const { failure } = await advance(deps, device, read.value, correlationId, log);
    if (failure && failure.kind !== 'not-found' && failure.kind !== 'permanent')
      return retryFor(failure, attempt, deps.retry, deps.now(), 'updating the group tag');
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError)) throw error;
    // Changed meanwhile: the Autopilot poll reconciles the tag on its next run.
  }
  await ensureTick(deps.ticks, 'autopilot', new Date(deps.now().getTime() + deps.waits.firstPollMs), { correlationId });
  return DONE;
}
