import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { deviceSerial } from '../shared/http/answers.js';
import { deviceRedriveAnswer } from '../shared/http/redrive-answers.js';
import { runtime } from '../shared/runtime.js';
import { redriveDevice } from '../shared/services/pipeline/redrive.js';

/**
 * POST /api/devices/{serial}/redrive, or POST /api/devices/redrive?serial=…: a stalled device's
 * step started again with a fresh deadline (one stalled on its import is first looked for in
 * Autopilot). 202 `{serial, state}`, 404 unknown, 409 `not-stalled`. Function key in Azure.
 *
 * The query form carries any serial the intake accepts; the path form every one but a serial
 * holding `/` (see getDevice). A request names the serial in one of the two, never both.
 */
export async function redriveDeviceRoute(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const serial = deviceSerial(request);
  if (!serial.ok) return serial.answer;
  const rt = await runtime();
  return deviceRedriveAnswer(await redriveDevice(rt.pipelineDeps(), serial.value, context.invocationId, 'route'));
}

export const redriveDeviceOptions: HttpFunctionOptions = {
  methods: ['POST'],
  route: 'devices/{serial}/redrive',
  authLevel: 'function',
  handler: redriveDeviceRoute,
};

/**
 * The same route with the serial in `?serial=`. A device whose serial is `redrive` is still
 * reached by `devices/redrive/redrive`: this route's one segment after `devices` never matches
 * that path, and `GET devices/redrive` stays getDevice's (the methods differ).
 */
export const redriveDeviceByQueryOptions: HttpFunctionOptions = { ...redriveDeviceOptions, route: 'devices/redrive' };

app.http('redriveDevice', redriveDeviceOptions);
app.http('redriveDeviceByQuery', redriveDeviceByQueryOptions);
