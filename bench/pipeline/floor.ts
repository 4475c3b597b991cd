import type { SimSeconds, SimulatorLatencies, ThrottleSettings } from '../../local/graph-simulator/index.js';

/**
 * The least time any client could take, given only what the simulator imposes: its
 * latencies (at their upper bounds, since the last of thousands of devices draws close to
 * them) and its per-app request limits. Everything the client itself does (reading files,
 * Table Storage, Service Bus, waiting between polls) counts as zero here.
 */

export interface FloorInputs {
  devices: number;
  /** Largest import request the simulator accepts. */
  maxImportBatch: number;
  /** Largest page the simulator serves. */
  maxPageSize: number;
  throttle: ThrottleSettings;
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
  const { devices, throttle, latencies } = inputs;
  const window = throttle.windowSeconds;
  const importPosts = Math.ceil(devices / inputs.maxImportBatch);
  const submitSeconds = extraWindows(importPosts, throttle.writesPer20s) * window;
  const importSeconds = upper(latencies.importSeconds);
  // One listing of every import record after the last one finishes tells all of them.
  const statusPages = Math.ceil(devices / inputs.maxPageSize);
  const readSeconds = extraWindows(statusPages, throttle.requestsPer20s) * window;
  const registeredSeconds = submitSeconds + importSeconds + readSeconds;
  const profileSeconds = upper(latencies.groupMembershipSeconds) + upper(latencies.profileAssignmentSeconds);
  const enrolmentSeconds = upper(latencies.enrolmentSeconds);
  const enrolledSeconds = submitSeconds + importSeconds + profileSeconds + enrolmentSeconds + readSeconds;
  return {
    registeredSeconds,
    enrolledSeconds,
    explanation: [
      `imports: ceil(${devices} devices / ${inputs.maxImportBatch} per request) = ${importPosts} POSTs; at ${throttle.writesPer20s} writes per ${window} s the last leaves after ${submitSeconds} s`,
      `import latency: up to ${importSeconds} s; one listing (${statusPages} pages of ${inputs.maxPageSize}, ${readSeconds} s of waiting at ${throttle.requestsPer20s} requests per ${window} s) then shows every outcome`,
      `registered floor = ${submitSeconds} + ${importSeconds} + ${readSeconds} = ${registeredSeconds} s`,
      `profile: group membership up to ${upper(latencies.groupMembershipSeconds)} s + assignment up to ${upper(latencies.profileAssignmentSeconds)} s; enrolment ${enrolmentSeconds} s after the profile`,
      `enrolled floor = ${submitSeconds} + ${importSeconds} + ${profileSeconds} + ${enrolmentSeconds} + ${readSeconds} = ${enrolledSeconds} s`,
    ],
  };
}
