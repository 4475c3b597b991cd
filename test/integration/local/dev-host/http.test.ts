import type { HttpFunctionOptions } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { DevHost } from '../../../../local/dev-host/index.js';
import { createLogger } from '../../../../shared/log.js';

/** The local host hands an HTTP function the URL it was called on, as the Functions host does: answers built from it (a status URL) point back at it. */
describe('dev host HTTP triggers', () => {
  it('gives the handler the full request URL, port included, and the route parameters decoded', async () => {
    const options: HttpFunctionOptions = {
      methods: ['GET'],
      route: 'echo/{serial}',
      authLevel: 'anonymous',
      handler: (request) => ({ jsonBody: { url: request.url, origin: new URL(request.url).origin, serial: request.params.serial } }),
    };
    // No queue or blob functions: the Service Bus and storage clients are created but never connect.
    const host = new DevHost({
      serviceBusConnectionString: 'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true',
      storageConnectionString: 'UseDevelopmentStorage=true',
      log: createLogger({ level: 'silent' }),
      httpPort: 0,
    }).http('echo', options);
    await host.start();
    try {
      const base = host.httpBaseUrl!;
      expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${base}/api/echo/SER%201%2FA?x=1`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ url: `${base}/api/echo/SER%201%2FA?x=1`, origin: base, serial: 'SER 1/A' });
    } finally {
      await host.stop();
    }
  });
});
