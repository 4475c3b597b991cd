import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { reprovisionWebhook } from '../shared/http/reprovision-webhook.js';
import { runtime } from '../shared/runtime.js';

/**
 * POST /api/devices/{serial}/reprovision, or POST /api/devices/reprovision?serial=…: the
 * service desk's signed webhook. Anonymous at the Functions level on purpose: the HMAC
 * signature over the raw body and a fresh timestamp is the authentication — stronger than a
 * function key, which a ticketing tool would have to keep in a URL and which proves nothing
 * about the body. Every request is checked before anything is read or changed.
 *
 * The query form carries any serial the intake accepts; the path form every one but a serial
 * holding `/` (see getDevice). Neither form is signed (the signature covers the body only), so
 * both are checked, refused and answered alike.
 */
export async function reprovisionDevice(request: HttpRequest): Promise<HttpResponseInit> {
  return reprovisionWebhook((await runtime()).reprovisionDeps(), request);
}

export const reprovisionDeviceOptions: HttpFunctionOptions = {
  methods: ['POST'],
  route: 'devices/{serial}/reprovision',
  authLevel: 'anonymous',
  handler: reprovisionDevice,
};

/** The same webhook with the serial in `?serial=` (a device whose serial is `reprovision` keeps its path form). */
export const reprovisionDeviceByQueryOptions: HttpFunctionOptions = { ...reprovisionDeviceOptions, route: 'devices/reprovision' };

app.http('reprovisionDevice', reprovisionDeviceOptions);
app.http('reprovisionDeviceByQuery', reprovisionDeviceByQueryOptions);
