import type { HttpFunctionOptions } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevHost } from '../../../../local/dev-host/index.js';
import { createLogger } from '../../../../shared/log.js';

/**
 * The local host routes HTTP requests the way the Functions host does in Azure: the handler
 * gets the URL it was called on (answers built from it, such as a status URL, point back at
 * it), route parameters decoded, an optional last parameter may be left out, an encoded
 * slash is a slash before routes are matched, and routes are tried in the order of their
 * function names, each with its methods.
 */
describe('dev host HTTP triggers', () => {
  let host: DevHost;
  let base: string;

  const echo = (route: string, methods: HttpFunctionOptions['methods'] = ['GET']): HttpFunctionOptions => ({
    methods,
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
      .http('lookupAction', echo('lookup/action', ['POST']))
      .http('lookup', echo('lookup/{serial?}'))
      // Registered in this order, tried in the order of their names: `alpha` first.
      .http('zulu', echo('either/{serial}'))
      .http('alpha', echo('either/fixed'));
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

  it('tries routes in the order of their function names, as the Functions host does, whatever order they were registered in', async () => {
    const fixed = await fetch(`${base}/api/either/fixed`);
    expect(await fixed.json()).toMatchObject({ route: 'either/fixed', serial: null });
    const other = await fetch(`${base}/api/either/other`);
    expect(await other.json()).toMatchObject({ route: 'either/{serial}', serial: 'other' });
  });

  it("counts a route's methods as part of its match: a path another method's route also matches reaches both", async () => {
    // `lookup` comes first by name, but it takes GET only: a POST goes on to `lookupAction`.
    const post = await fetch(`${base}/api/lookup/action`, { method: 'POST' });
    expect(await post.json()).toMatchObject({ route: 'lookup/action' });
    const get = await fetch(`${base}/api/lookup/action`);
    expect(await get.json()).toMatchObject({ route: 'lookup/{serial?}', serial: 'action' });
  });
});
