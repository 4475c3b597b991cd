import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { answer, problem, routeParam, serialParam } from '../shared/http/answers.js';
import { runtime } from '../shared/runtime.js';
import { deviceStatus } from '../shared/services/status.js';

/**
 * GET /api/devices/{serial}, or GET /api/devices?serial=…: a device's record (no hardware
 * hash; whether a user is assigned, not who) and its full history. Function key in Azure.
 *
 * The query form carries any serial the intake accepts. The path form cannot carry a `/`:
 * the Functions host in Azure decodes %2F before it matches routes, so `devices/A%2FB`
 * reaches no route (azure-functions-host #3998, #5619, #9290); every other character
 * travels percent-encoded in either form. With both given, the path wins.
 */
export async function getDevice(request: HttpRequest): Promise<HttpResponseInit> {
  const raw = request.params.serial || (request.query.get('serial') ?? undefined);
  const serial = routeParam(serialParam, raw, { code: 'invalid-serial', name: 'serial number' });
  if (!serial.ok) return serial.answer;
  const status = await deviceStatus(await runtime(), serial.value);
  return status ? answer(200, status) : problem(404, 'device-not-found', 'No device with this serial number is known.');
}

export const getDeviceOptions: HttpFunctionOptions = {
  methods: ['GET'],
  // An optional last segment: `devices` itself answers the query form.
  route: 'devices/{serial?}',
  authLevel: 'function',
  handler: getDevice,
};

app.http('getDevice', getDeviceOptions);
