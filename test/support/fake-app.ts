import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small HTTP server on 127.0.0.1 standing in for the app, for the commands that call its HTTP
 * API (`ztp reprovision`, `ztp redrive`): each request is handed over with its whole body, and
 * answered however the test says (or not at all).
 */

export interface FakeApp {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  close(): Promise<void>;
}

export async function startFakeApp(handle: (request: IncomingMessage, body: Buffer, response: ServerResponse) => void): Promise<FakeApp> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handle(request, Buffer.concat(chunks), response));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export function sendJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(value));
}

/** The serial a device route names, in `?serial=` (as the commands send it) or in its path. */
export function serialOf(url: string | undefined, route: 'reprovision' | 'redrive'): string | undefined {
  const parsed = new URL(url ?? '/', 'http://127.0.0.1');
  if (parsed.pathname === `/api/devices/${route}`) return parsed.searchParams.get('serial') ?? undefined;
  const inPath = new RegExp(`^/api/devices/([^/]+)/${route}$`).exec(parsed.pathname)?.[1];
  return inPath === undefined ? undefined : decodeURIComponent(inPath);
}

/** A port nothing listens on (just released). */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}
