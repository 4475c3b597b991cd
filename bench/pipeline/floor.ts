import type { SimSeconds, SimulatorLatencies, ThrottleSettings } from '../../local/graph-simulator/index.js';
import { ceilingFor, type BudgetLimits } from '../../shared/adapters/graph/budget.js';

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
  /** The budget the app applies (its window is taken to be the simulator's). */
  budget?: BudgetLimits;
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

const upper = (seconds: SimSeconds): number => (typeof seconds === 'number' ? seconds : seconds[1]);

/** Extra whole windows needed to send `requests` when `perWindow` fit in each (the first window is free). */
const extraWindows = (requests: number, perWindow: number): number => Math.max(0, Math.ceil(requests / perWindow) - 1);

export function computeFloor(inputs: FloorInputs): Floor {
  const { devices, throttle, latencies, budget } = inputs;
  const window = throttle.windowSeconds;
  const importWrites = Math.min(throttle.writesPer20s, budget ? ceilingFor(budget.writesPerWindow, budget.shares.import) : Infinity);
  const statusRequests = Math.min(throttle.requestsPer20s, budget ? ceilingFor(budget.requestsPerWindow, budget.shares.status) : Infinity);
  const importPosts = Math.ceil(devices / inputs.maxImportBatch);
  const submitSeconds = extraWindows(importPosts, importWrites) * window;
  const importSeconds = upper(latencies.importSeconds);
  // One listing of every import record after the last one finishes tells all of them.
  const statusPages = Math.ceil(devices / inputs.maxPageSize);
  const readSeconds = extraWindows(statusPages, statusRequests) * window;
  const registeredSeconds = submitSeconds + importSeconds + readSeconds;
  const profileSeconds = upper(latencies.groupMembershipSeconds) + upper(latencies.profileAssignmentSeconds);
  const enrolmentSeconds = upper(latencies.enrolmentSeconds);
  const enrolledSeconds = submitSeconds + importSeconds + profileSeconds + enrolmentSeconds + readSeconds;
  const budgetText = budget
    ? ` (the simulator's ${throttle.writesPer20s} writes / ${throttle.requestsPer20s} requests; the app's budget ${budget.writesPerWindow} / ${budget.requestsPerWindow}, of which imports may use ${ceilingFor(budget.writesPerWindow, budget.shares.import)} writes and status reads ${ceilingFor(budget.requestsPerWindow, budget.shares.status)} requests)`
    : '';
  const explanation = [
    `limits per ${window} s: ${importWrites} import writes, ${statusRequests} status requests${budgetText}`,
    `imports: ceil(${devices} devices / ${inputs.maxImportBatch} per request) = ${importPosts} POSTs; at ${importWrites} writes per ${window} s the last leaves after ${submitSeconds} s`,
    `import latency: up to ${importSeconds} s; one listing (${statusPages} pages of ${inputs.maxPageSize}, ${readSeconds} s of waiting at ${statusRequests} requests per ${window} s) then shows every outcome`,
    `registered floor = ${submitSeconds} + ${importSeconds} + ${readSeconds} = ${registeredSeconds} s`,
    `profile: group membership up to ${upper(latencies.groupMembershipSeconds)} s + assignment up to ${upper(latencies.profileAssignmentSeconds)} s; enrolment ${enrolmentSeconds} s after the profile`,
    `enrolled floor = ${submitSeconds} + ${importSeconds} + ${profileSeconds} + ${enrolmentSeconds} + ${readSeconds} = ${enrolledSeconds} s`,
  ];
  if (inputs.appImportBatch !== undefined && inputs.appImportBatch < inputs.maxImportBatch) {
    const appPosts = Math.ceil(devices / inputs.appImportBatch);
    const appSubmit = extraWindows(appPosts, importWrites) * window;
    explanation.push(
      `(with the app's own ${inputs.appImportBatch} devices per request: ${appPosts} POSTs, the last after ${appSubmit} s, so registered at best ${appSubmit + importSeconds + readSeconds} s)`,
    );
  }
  return { registeredSeconds, enrolledSeconds, explanation };
}
