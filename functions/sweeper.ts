import { app, type InvocationContext, type Timer, type TimerFunctionOptions } from '@azure/functions';
import { runtime } from '../shared/runtime.js';
import { sweep } from '../shared/services/sweeper.js';

/** Every five minutes: revive lost polls, re-queue forgotten devices, surface dead letters. */
export async function sweeper(_timer: Timer, context: InvocationContext): Promise<void> {
  const rt = await runtime();
  await sweep(rt.sweeperDeps(), context.invocationId);
}

export const sweeperOptions: TimerFunctionOptions = {
  schedule: '0 */5 * * * *',
  runOnStartup: false,
  handler: sweeper,
};

app.timer('sweeper', sweeperOptions);
