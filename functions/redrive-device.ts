import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { routeParam, serialParam } from '../shared/http/answers.js';
import { deviceRedriveAnswer } from '../shared/http/redrive-answers.js';
import { runtime } from '../shared/runtime.js';
import { redriveDevice } from '../shared/services/pipeline/redrive.js';

/**
 * POST /api/devices/{serial}/redrive: a stalled device's step started again with a fresh
 * deadline (one stalled on its import is first looked for in Autopilot). 202 `{serial, state}`,
 * 404 unknown, 409 `not-stalled`. Function key in Azure.
 */
export async function redriveDeviceRoute(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const serial = routeParam(serialParam, request.params.serial, { code: 'invalid-serial', name: 'serial number' });
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

app.http('redriveDevice', redriveDeviceOptions);
