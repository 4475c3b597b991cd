import { DEFAULT_LATENCIES, DEFAULT_THROTTLE, startGraphSimulator, type GraphSimulator } from '../../local/graph-simulator/index.js';
import type { AppliedBudget } from './settings.js';
import { computeFloor, type Floor } from './floor.js';
import { PROFILE_RULE, SIMULATOR_TOKEN } from './workload.js';

/** The Graph simulator both runs are measured against, and the floor it imposes. */

export function startSimulator(scale: number): Promise<GraphSimulator> {
  return startGraphSimulator({
    token: SIMULATOR_TOKEN,
    clock: { timeScale: scale },
    profileRules: [PROFILE_RULE],
    latencies: DEFAULT_LATENCIES,
    throttle: DEFAULT_THROTTLE,
    requestLogLimit: 10_000_000,
  });
}

/** The floor for this many devices, under the simulator's limits and the app's budget where lower. */
export function simulatorFloor(devices: number, budget: AppliedBudget, appImportBatch: number): Floor {
  return computeFloor({
    devices,
    // The simulator's defaults for maxImportBatchSize and maxPageSize.
    maxImportBatch: 500,
    maxPageSize: 1000,
    throttle: DEFAULT_THROTTLE,
    budget,
    appImportBatch,
    latencies: DEFAULT_LATENCIES,
  });
}
