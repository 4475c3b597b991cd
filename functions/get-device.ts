import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { runtime } from '../shared/runtime.js';
import { deviceStatus } from '../shared/services/status.js';

/**
 * GET /api/devices/{serial}: a device's record (no hardware hash; whether a user is
 * assigned, not who) and its full history. Function key in Azure.
 */

/** As the intake accepts serials: trimmed, at most 128 characters, no control characters. */
const serialParam = z
  .string()
  .trim()
  .min(1, 'is empty')
  .max(128, 'is longer than 128 characters')
  .refine((serial) => !/\p{Cc}/u.test(serial), 'contains control characters');

const NO_STORE = { 'Cache-Control': 'no-store' };

export async function getDevice(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const serial = serialParam.safeParse(request.params.serial ?? '');
  if (!serial.success) {
    return {
      status: 400,
      headers: NO_STORE,
      jsonBody: { error: { code: 'invalid-serial', message: `The serial number ${serial.error.issues[0]?.message ?? 'is invalid'}.` } },
    };
  }
  const rt = await runtime();
  const status = await deviceStatus(rt, serial.data);
  if (status === undefined) {
    return {
      status: 404,
      headers: NO_STORE,
      jsonBody: { error: { code: 'device-not-found', message: 'No device with this serial number is known.' } },
    };
  }
  return { status: 200, headers: NO_STORE, jsonBody: status };
}

export const getDeviceOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'devices/{serial}',
  authLevel: 'function',
  handler: getDevice,
};

app.http('getDevice', getDeviceOptions);
