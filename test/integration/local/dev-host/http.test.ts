import type { HttpFunctionOptions } from '@azure/functions';
import { Readable } from 'node:stream';
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

/**
 * Bodies are streams both ways, as the Functions host hands them over with HTTP streams on: a
 * handler reads the request body while it is still arriving (a host that buffered it first
 * would never call the handler here, since the client sends the rest only once it has the
 * answer), and a streamed answer is sent as it is produced.
 */
describe('dev host HTTP bodies', () => {
  let host: DevHost;
  let base: string;

  beforeAll(async () => {
    host = new DevHost({
      serviceBusConnectionString: 'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true',
      storageConnectionString: 'UseDevelopmentStorage=true',
      log: createLogger({ level: 'silent' }),
      httpPort: 0,
    })
      .http('firstChunk', {
        methods: ['PUT'],
        route: 'first-chunk',
        authLevel: 'anonymous',
        handler: async (request) => {
          const reader = request.body!.getReader();
          const first = await reader.read();
          reader.releaseLock();
          return { status: 202, jsonBody: { firstChunkBytes: first.value?.byteLength ?? 0 } };
        },
      })
      .http('refuse', {
        methods: ['PUT'],
        route: 'refuse',
        authLevel: 'anonymous',
        handler: () => ({ status: 413, jsonBody: { error: { code: 'too-large', message: 'no' } } }),
      })
      .http('lines', {
        methods: ['GET'],
        route: 'lines',
        authLevel: 'anonymous',
        handler: () => ({
          headers: { 'content-type': 'text/csv; charset=utf-8' },
          body: Readable.from(
            (function* () {
              for (let line = 1; line <= 1000; line++) yield Buffer.from(`${line},row\r\n`);
            })(),
          ),
        }),
      });
    await host.start();
    base = host.httpBaseUrl!;
  });

  afterAll(async () => {
    await host?.stop();
  });

  it('hands the handler the request body as it arrives: it answers before the client has sent all of it', async () => {
    let answered!: () => void;
    const gotAnswer = new Promise<void>((resolve) => (answered = resolve));
    let sentAfterAnswer = 0;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x41));
      },
      async pull(controller) {
        // The rest is sent only once the answer is in: a host that waits for the whole body never answers.
        await gotAnswer;
        if (sentAfterAnswer++ < 4) controller.enqueue(new Uint8Array(1024));
        else controller.close();
      },
    });
    const response = await Promise.race([
      fetch(`${base}/api/first-chunk`, { method: 'PUT', body, duplex: 'half' } as RequestInit),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('no answer while the body was still open: it was buffered')), 10_000),
      ),
    ]);
    answered();
    expect(response.status).toBe(202);
    expect(((await response.json()) as { firstChunkBytes: number }).firstChunkBytes).toBeGreaterThan(0);
  });

  it('answers a refusal before reading the body, and closes that connection rather than reading the rest', async () => {
    const response = await fetch(`${base}/api/refuse`, { method: 'PUT', body: new Uint8Array(32 * 1024 * 1024) });
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({ error: { code: 'too-large', message: 'no' } });
  });

  it('sends a streamed answer whole, with its content type', async () => {
    const response = await fetch(`${base}/api/lines`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await response.text()).trim().split('\r\n');
    expect(lines).toHaveLength(1000);
    expect(lines.at(-1)).toBe('1000,row');
  });

  it('answers 404 and 405 in the same error shape without reading a body', async () => {
    const missing = await fetch(`${base}/api/nowhere`, { method: 'PUT', body: 'x' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not-found' } });
    const wrongMethod = await fetch(`${base}/api/lines`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    expect(await wrongMethod.json()).toMatchObject({ error: { code: 'method-not-allowed' } });
  });
});
