import type { SimSeconds, SimulatorLatencies, ThrottleSettings } from '../../local/graph-simulator/index.js';
import { ceilingFor } from '../../shared/adapters/graph/budget.js';
import { fixed } from './format.js';
import type { AppliedBudget } from './settings.js';

/**
 * The least time any client could take, given only what the simulator imposes: its
 * latencies (at their upper bounds, since the last of thousands of devices draws close to
 * them) and its per-app request limits — or the app's own budget where that is lower (the
 * budget may keep headroom under Graph's limits, and gives each priority a share). Everything
 * the client itself does (reading files, Table Storage, Service Bus, waiting between polls)
 * counts as zero here.
 */

export interface FloorInputs {
  devices: number;
  /** Largest import request the simulator accepts. */
  maxImportBatch: number;
  /** Largest page the simulator serves. */
  maxPageSize: number;
  throttle: ThrottleSettings;
  /** The budget the app applies. */
  budget?: AppliedBudget;
  /** Devices per import request the app sends (GRAPH_IMPORT_CHUNK_SIZE), for the line on what its own requests need. */
  appImportBatch?: number;
  latencies: SimulatorLatencies;
}

export interface Floor {
  /** Simulated seconds from the files' arrival to the last device registered and known to be. */
  registeredSeconds: number;
  enrolledSeconds: number;
  /** The formula with the numbers put in, for the printout and the README. */
  explanation: string[];
}

const round = (seconds: number): number => Math.round(seconds * 10) / 10;

const upper = (seconds: SimSeconds): number => (typeof seconds === 'number' ? seconds : seconds[1]);

/** Extra whole windows needed to send `requests` when `perWindow` fit in each (the first window is free). */
const extraWindows = (requests: number, perWindow: number): number => Math.max(0, Math.ceil(requests / perWindow) - 1);

export function computeFloor(inputs: FloorInputs): Floor {
  const { devices, throttle, latencies, budget } = inputs;
  const window = throttle.windowSeconds;
  const span = budget ? budget.spanMs / 1000 : window;
  const appImportWrites = budget ? ceilingFor(budget.limits.writesPerWindow, budget.limits.shares.import) : Infinity;
  const appStatusRequests = budget ? ceilingFor(budget.limits.requestsPerWindow, budget.limits.shares.status) : Infinity;
  /** Seconds until the last of `requests` may leave: the simulator's aligned windows, or the budget's span, whichever is slower. */
  const waitFor = (requests: number, simulatorLimit: number, appLimit: number): number =>
    Math.max(extraWindows(requests, simulatorLimit) * window, Number.isFinite(appLimit) ? extraWindows(requests, appLimit) * span : 0);
  const importPosts = Math.ceil(devices / inputs.maxImportBatch);
  const submitSeconds = round(waitFor(importPosts, throttle.writesPer20s, appImportWrites));
  const importSeconds = upper(latencies.importSeconds);
  // One listing of every import record after the last one finishes tells all of them.
  const statusPages = Math.ceil(devices / inputs.maxPageSize);
  const readSeconds = round(waitFor(statusPages, throttle.requestsPer20s, appStatusRequests));
  const registeredSeconds = round(submitSeconds + importSeconds + readSeconds);
  const profileSeconds = upper(latencies.groupMembershipSeconds) + upper(latencies.profileAssignmentSeconds);
  const enrolmentSeconds = upper(latencies.enrolmentSeconds);
  const enrolledSeconds = round(submitSeconds + importSeconds + profileSeconds + enrolmentSeconds + readSeconds);
  const importWrites = Math.min(throttle.writesPer20s, appImportWrites);
  const statusRequests = Math.min(throttle.requestsPer20s, appStatusRequests);
  const explanation = [
    `limits: the simulator's ${throttle.writesPer20s} writes / ${throttle.requestsPer20s} requests per aligned ${window} s` +
      (budget
        ? `; the app's budget grants ${budget.limits.writesPerWindow} / ${budget.limits.requestsPerWindow} (Graph's ${budget.graphLimits.writesPerWindow} / ${budget.graphLimits.requestsPerWindow} less its headroom) in any ${fixed(span, 1)} s (the window, the lease, the clock tolerance and a bucket), of which imports may use ${appImportWrites} writes and status reads ${appStatusRequests} requests`
        : ''),
    `imports: ceil(${devices} devices / ${inputs.maxImportBatch} per request) = ${importPosts} POSTs; at ${importWrites} writes per window the last leaves after ${submitSeconds} s`,
    `import latency: up to ${importSeconds} s; one listing (${statusPages} pages of ${inputs.maxPageSize}, ${readSeconds} s of waiting at ${statusRequests} requests per window) then shows every outcome`,
    `registered floor = ${submitSeconds} + ${importSeconds} + ${readSeconds} = ${registeredSeconds} s`,
    `profile: group membership up to ${upper(latencies.groupMembershipSeconds)} s + assignment up to ${upper(latencies.profileAssignmentSeconds)} s; enrolment ${enrolmentSeconds} s after the profile`,
    `enrolled floor = ${submitSeconds} + ${importSeconds} + ${profileSeconds} + ${enrolmentSeconds} + ${readSeconds} = ${enrolledSeconds} s`,
  ];
  if (inputs.appImportBatch !== undefined && inputs.appImportBatch < inputs.maxImportBatch) {
    const appPosts = Math.ceil(devices / inputs.appImportBatch);
    const appSubmit = round(waitFor(appPosts, throttle.writesPer20s, appImportWrites));
    explanation.push(
      `(with the app's own ${inputs.appImportBatch} devices per request: ${appPosts} POSTs, the last after ${appSubmit} s, so registered at best ${round(appSubmit + importSeconds + readSeconds)} s)`,
    );
  }
  return { registeredSeconds, enrolledSeconds, explanation };
}
