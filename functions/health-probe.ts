import { app, type TimerFunctionOptions } from '@azure/functions';
import { HEALTH_REFRESH, runtime } from '../shared/runtime.js';

/** Keeps the app-wide dependency check fresh when nobody asks for the details: one check per interval at most. */
export async function healthProbe(): Promise<void> {
  await (await runtime()).health.refresh();
}

export const healthProbeOptions: TimerFunctionOptions = {
  schedule: HEALTH_REFRESH.schedule,
  runOnStartup: false,
  handler: healthProbe,
};

app.timer('healthProbe', healthProbeOptions);
