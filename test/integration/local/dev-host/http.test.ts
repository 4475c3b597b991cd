import type { HttpFunctionOptions } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevHost } from '../../../../local/dev-host/index.js';
import { createLogger } from '../../../../shared/log.js';

/**
 * The local host routes HTTP requests the way the Functions host does in Azure: the handler
 * gets the URL it was called on (answers built from it, such as a status URL, point back at
 * it), route parameters decoded, an optional last parameter may be left out, and an encoded
 * slash is a slash before routes are matched.
 */
describe('dev host HTTP triggers', () => {
  let host: DevHost;
  let base: string;

  const echo = (route: string): HttpFunctionOptions => ({
    methods: ['GET'],
    route,
    authLevel: 'anonymous',
    handler: (request) => ({
      jsonBody: {
        route,
        url: request.url,
        origin: new URL(request.url).origin,
        serial: request.params.serial ?? null,
        query: request.query.get('serial'),
      },
    }),
  });

  beforeAll(async () => {
    // No queue or blob functions: the Service Bus and storage clients are created but never connect.
    host = new DevHost({
      serviceBusConnectionString: 'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true',
      storageConnectionString: 'UseDevelopmentStorage=true',
      log: createLogger({ level: 'silent' }),
      httpPort: 0,
    })
      .http('echo', echo('echo/{serial}'))
      .http('lookup', echo('lookup/{serial?}'));
    await host.start();
    base = host.httpBaseUrl!;
  });

  afterAll(async () => {
    await host?.stop();
  });

  it('gives the handler the full request URL, port included, and the route parameters decoded', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${base}/api/echo/SER%201%3FA%23B%25C?x=1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ url: `${base}/api/echo/SER%201%3FA%23B%25C?x=1`, origin: base, serial: 'SER 1?A#B%C' });
  });

  it('decodes %2F before matching, as the Functions host in Azure does: an encoded slash splits the segment', async () => {
    // azure-functions-host #3998, #5619, #9290: `{serial}` answers 404 for a value holding %2F once deployed.
    const response = await fetch(`${base}/api/echo/SER%2FA`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'not-found' } });
  });

  it('matches a route whose optional last parameter is left out, and hands over the query decoded', async () => {
    const bare = await fetch(`${base}/api/lookup?serial=${encodeURIComponent('SER/1 ?#%+')}`);
    expect(bare.status).toBe(200);
    expect(await bare.json()).toMatchObject({ route: 'lookup/{serial?}', serial: null, query: 'SER/1 ?#%+' });
    const given = await fetch(`${base}/api/lookup/SER-2`);
    expect(await given.json()).toMatchObject({ serial: 'SER-2', query: null });
  });
});
