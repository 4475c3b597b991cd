import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { reprovisionWebhook } from '../shared/http/reprovision-webhook.js';
import { runtime } from '../shared/runtime.js';

/**
 * POST /api/devices/{serial}/reprovision: the service desk's signed webhook. Anonymous at the
 * Functions level on purpose: the HMAC signature over the raw body and a fresh timestamp is
 * the authentication — stronger than a function key, which a ticketing tool would have to
 * keep in a URL and which proves nothing about the body. Every request is checked before
 * anything is read or changed.
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

app.http('reprovisionDevice', reprovisionDeviceOptions);
