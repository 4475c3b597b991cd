import { app, type InvocationContext, type Timer, type TimerFunctionOptions } from '@azure/functions';
import { TableStore } from '../shared/adapters/tables/table-store.js';
import { runtime, type Runtime } from '../shared/runtime.js';
import { sweep, sweeperPolicy, SWEEPER_TABLE, tableDeadLetterCursors, type SweeperDeps } from '../shared/services/sweeper.js';

/** Every five minutes: revive lost polls, re-queue forgotten devices, surface dead letters. */

const prepared = new WeakMap<Runtime, Promise<SweeperDeps>>();

function sweeperDeps(rt: Runtime): Promise<SweeperDeps> {
  let deps = prepared.get(rt);
  if (!deps) {
    const store = TableStore.fromConnectionString(rt.config.storageConnectionString, SWEEPER_TABLE);
    const pipeline = rt.pipelineDeps();
    deps = store.ensureTable().then(() => ({
      devices: rt.devices,
      batches: rt.batches,
      queue: rt.queue,
      ticks: pipeline.ticks,
      cursors: tableDeadLetterCursors(store, rt.now),
      log: rt.log,
      now: rt.now,
      policy: sweeperPolicy(rt.config),
    }));
    deps.catch(() => prepared.delete(rt));
    prepared.set(rt, deps);
  }
  return deps;
}

export async function sweeper(_timer: Timer, context: InvocationContext): Promise<void> {
  const rt = await runtime();
  await sweep(await sweeperDeps(rt), context.invocationId);
}

export const sweeperOptions: TimerFunctionOptions = {
  schedule: '0 */5 * * * *',
  runOnStartup: false,
  handler: sweeper,
};

app.timer('sweeper', sweeperOptions);
