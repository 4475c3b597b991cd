import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterCursorRepository } from '../../../../shared/adapters/tables/dead-letter-cursors.js';
import { PoisonRepository } from '../../../../shared/adapters/tables/poison-store.js';
import { resetTableOperationCounts, tableOperationCounts } from '../../../../shared/adapters/tables/table-metrics.js';
import { newDevice } from '../../../../shared/domain/device.js';
import { sweeperPolicy } from '../../../../shared/policies.js';
import { pollAutopilot } from '../../../../shared/services/pipeline/poll-autopilot.js';
import { pollImports } from '../../../../shared/services/pipeline/poll-imports.js';
import { pollReprovision } from '../../../../shared/services/pipeline/poll-reprovision.js';
import { redriveBatch } from '../../../../shared/services/pipeline/redrive.js';
import { sweep } from '../../../../shared/services/sweeper.js';
import { startScenarioStack, type Scenario, type ScenarioStack } from '../../../support/scenario.js';

/**
 * What the hot paths read with a settled fleet beside a few waiting devices: 10,000 enrolled
 * devices and 100 waiting ones. Each poll, a sweep and a file's re-drive may read the waiting
 * devices and nothing of the settled ones. A query the table service cannot confine to a
 * partition (a filter on other properties) examines every entity of the table, whatever it
 * returns, so it counts as reading the whole table.
 */

const SETTLED = 10_000;
const WAITING = { importing: 50, registered: 40, stalled: 10 } as const;
const WAITING_TOTAL = WAITING.importing + WAITING.registered + WAITING.stalled;

let scenarios: ScenarioStack;
let s: Scenario;

beforeAll(async () => {
  scenarios = await startScenarioStack();
}, 120_000);

afterAll(async () => {
  await scenarios?.stop();
});

/** Entities read from the devices' tables while `run` runs: a scan counts as the whole table. */
async function entitiesRead(run: () => Promise<unknown>): Promise<{ read: number; scans: number; byTable: unknown }> {
  resetTableOperationCounts();
  await run();
  const counts = tableOperationCounts();
  let read = 0;
  let scans = 0;
  const byTable: Record<string, unknown> = {};
  for (const [table, kinds] of Object.entries(counts)) {
    byTable[table] = kinds;
    // A scan of any table counts; entities read are the devices' (the devices table and what it keeps beside it).
    if (kinds.scan) scans += kinds.scan.requests;
    if (!table.startsWith('scendevices')) continue;
    read += (kinds['partition-query']?.entities ?? 0) + (kinds.get?.entities ?? 0);
    if (kinds.scan) read += 2 * (SETTLED + WAITING_TOTAL);
  }
  return { read, scans, byTable };
}

describe('reads on the hot paths with 10,000 settled devices and 100 waiting', () => {
  it('each poll, a sweep and a re-drive read the waiting devices only', async () => {
    s = await scenarios.scenario();
    const now = s.now();
    const serials = Array.from({ length: SETTLED }, (_, n) => `SETTLED-${String(n).padStart(5, '0')}`);
    for (let start = 0; start < serials.length; start += 64) {
      await Promise.all(
        serials.slice(start, start + 64).map((serialNumber) => {
          const { record, event } = newDevice(
            { serialNumber, supplierId: 'contoso', batchId: 'batch-settled', line: 2, groupTag: 'MPS-STD' },
            'received',
            'accepted-from-file',
            'seed',
            now,
          );
          return s.devices.create({ ...record, state: 'enrolled', autopilotId: `ap-${serialNumber}`, hardwareHash: undefined }, event);
        }),
      );
    }
    for (const [state, count] of Object.entries(WAITING) as [keyof typeof WAITING, number][]) {
      for (let n = 0; n < count; n++) await s.given(`WAIT-${state}-${n}`, state);
    }

    const storage = scenarios.stack.storageConnectionString;
    const suffix = s.correlationId.replace(/[^A-Za-z0-9]/g, '').slice(-12);
    const paths: Record<string, () => Promise<unknown>> = {
      'import poll': () => pollImports(s.deps, { tick: 'imports', at: s.now().toISOString(), idle: 0 }, s.correlationId, 0),
      'Autopilot poll': () => pollAutopilot(s.deps, { tick: 'autopilot', at: s.now().toISOString(), idle: 0 }, s.correlationId, 0),
      're-provisioning poll': () =>
        pollReprovision(s.deps, { tick: 'reprovision', at: s.now().toISOString(), idle: 0 }, s.correlationId, 0),
      "a file's re-drive": () => redriveBatch({ ...s.deps, batches: s.batches }, 'batch-given', s.correlationId, 'route'),
      sweep: () =>
        sweep(
          {
            devices: s.devices,
            batches: s.batches,
            queue: scenarios.stack.runtime.queue,
            ticks: s.deps.ticks,
            cursors: DeadLetterCursorRepository.connect(storage, s.now, `scensweeper${suffix}`),
            poison: PoisonRepository.connect(storage, `scenpoison${suffix}`),
            log: s.deps.log,
            now: s.now,
            policy: sweeperPolicy(scenarios.stack.runtime.config),
            queues: [],
          },
          s.correlationId,
        ),
    };
    for (const [name, run] of Object.entries(paths)) {
      const { read, scans, byTable } = await entitiesRead(run);
      expect.soft(scans, `${name} scans no table: ${JSON.stringify(byTable)}`).toBe(0);
      expect.soft(read, `${name} reads at most the waiting devices: ${JSON.stringify(byTable)}`).toBeLessThanOrEqual(WAITING_TOTAL + 10);
    }
  }, 600_000);
});
