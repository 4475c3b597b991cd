import type { AccessToken, TokenCredential } from '@azure/identity';
import type { Context, Middleware, MiddlewareOptions } from '@microsoft/microsoft-graph-client';
import http from 'node:http';
import https from 'node:https';
import { GraphTransportError } from '../../errors.js';
import { countGraphRequest } from './graph-metrics.js';

/**
 * The Graph client's middleware chain, replacing its defaults: a bearer-token step that works
 * for any scheme (the stock one only signs https Graph/customHosts URLs, so it would never sign
 * an http simulator) and a terminal transport with a hard timeout that never retries and never
 * sleeps — throttling and failures go back to the caller as typed results.
 */

type TokenSource = () => Promise<string>;

export function staticTokenSource(token: string): TokenSource {
  return () => Promise.resolve(token);
}

/** Token from an Azure credential, cached until five minutes before it expires. */
export function credentialTokenSource(credential: TokenCredential, scope: string): TokenSource {
  let cached: AccessToken | undefined;
  let pending: Promise<AccessToken> | undefined;
  return async () => {
    if (cached && cached.expiresOnTimestamp - Date.now() > 5 * 60_000) return cached.token;
    pending ??= credential.getToken(scope).then((token) => {
      if (!token) throw new Error(`no access token for ${scope}`);
      return token;
    });
    try {
      cached = await pending;
      return cached.token;
    } finally {
      pending = undefined;
    }
  };
}

/** Signs requests to `origin` only, so a token never leaks to another host (e.g. through a nextLink). */
export class BearerTokenMiddleware implements Middleware {
  private next: Middleware | undefined;

  constructor(
    private readonly origin: string,
    private readonly token: TokenSource,
  ) {}

  async execute(context: Context): Promise<void> {
    if (new URL(requestUrl(context)).origin === this.origin) {
      const options = (context.options ??= {});
      const headers = headerRecord(options.headers);
      headers.Authorization = `Bearer ${await this.token()}`;
      options.headers = headers;
    }
    if (!this.next) throw new Error('BearerTokenMiddleware must not be last in the chain');
    await this.next.execute(context);
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

/**
 * Handed to one request (GraphRequest.middlewareOptions) to learn whether it left: `written`
 * once the whole request was handed to the connection. A failure before that (connection
 * refused, no token) means Graph never had the request, so nothing it would do happened.
 */
export class SendProgress implements MiddlewareOptions {
  written = false;
}

interface TransportOptions {
  timeoutMs: number;
  /** Extra CA to trust (a simulator's self-signed certificate). */
  caCertPem?: string;
}

/** Sends exactly once over node:http(s) with keep-alive, abandoning the exchange after `timeoutMs`. */
export class NodeHttpTransport implements Middleware {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;

  constructor(private readonly options: TransportOptions) {
    this.httpsAgent = new https.Agent({ keepAlive: true, ...(options.caCertPem ? { ca: options.caCertPem } : {}) });
  }

  async execute(context: Context): Promise<void> {
    const url = new URL(requestUrl(context));
    const init = context.options ?? {};
    const body = typeof init.body === 'string' || Buffer.isBuffer(init.body) ? init.body : undefined;
    const method = init.method ?? 'GET';
    const progress = context.middlewareControl?.getMiddlewareOptions(SendProgress) as SendProgress | undefined;
    try {
      context.response = await this.send(url, method, headerRecord(init.headers), body, progress);
    } catch (error) {
      countGraphRequest(method, 0);
      throw error;
    }
    countGraphRequest(method, context.response.status);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | Buffer | undefined,
    progress: SendProgress | undefined,
  ): Promise<Response> {
    const secure = url.protocol === 'https:';
    const transport = secure ? https : http;
    return new Promise<Response>((resolve, reject) => {
      const request = transport.request(url, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent });
      const timer = setTimeout(
        () =>
          request.destroy(new GraphTransportError('timeout', `no answer within ${this.options.timeoutMs} ms: ${method} ${url.pathname}`)),
        this.options.timeoutMs,
      );
      const fail = (error: Error): void => {
        clearTimeout(timer);
        reject(
          error instanceof GraphTransportError ? error : new GraphTransportError('network', `${method} ${url.pathname}: ${error.message}`),
        );
      };
      request.on('error', fail);
      request.on('finish', () => {
        if (progress) progress.written = true;
      });
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('aborted', () => fail(new Error('answer cut off')));
        response.on('end', () => {
          clearTimeout(timer);
          const status = response.statusCode ?? 0;
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          const hasBody = ![204, 205, 304].includes(status);
          resolve(new Response(hasBody ? Buffer.concat(chunks) : null, { status, headers: responseHeaders }));
        });
      });
      request.end(body);
    });
  }
}

function requestUrl(context: Context): string {
  return typeof context.request === 'string' ? context.request : context.request.url;
}

function headerRecord(headers: RequestInit['headers']): Record<string, string> {
  if (!headers) return {};
  if (headers instanceof Headers) return Object.fromEntries(headers.entries());
  if (Array.isArray(headers)) return Object.fromEntries(headers.map(([k = '', v = '']) => [k, v]));
  return { ...(headers as Record<string, string>) };
}
