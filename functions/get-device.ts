import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { answer, problem, routeParam, serialParam } from '../shared/http/answers.js';
import { runtime } from '../shared/runtime.js';
import { deviceStatus } from '../shared/services/status.js';

/**
 * GET /api/devices/{serial}: a device's record (no hardware hash; whether a user is
 * assigned, not who) and its full history. Function key in Azure.
 */
export async function getDevice(request: HttpRequest): Promise<HttpResponseInit> {
  const serial = routeParam(serialParam, request.params.serial, { code: 'invalid-serial', name: 'serial number' });
  if (!serial.ok) return serial.answer;
  const status = await deviceStatus(await runtime(), serial.value);
  return status ? answer(200, status) : problem(404, 'device-not-found', 'No device with this serial number is known.');
}

export const getDeviceOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'devices/{serial}',
  authLevel: 'function',
  handler: getDevice,
};

app.http('getDevice', getDeviceOptions);
