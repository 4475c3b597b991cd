import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A stand-in for the managed identity endpoint App Service and Azure Functions give an app, as
 * the Graph simulator stands in for Graph: `ManagedIdentityCredential` (through MSAL's App
 * Service source) calls `GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=…[&client_id=…]`
 * with the header `X-IDENTITY-HEADER: $IDENTITY_HEADER`, and reads back
 * `{ access_token, expires_on, resource, token_type, client_id }`, `expires_on` in epoch seconds.
 *
 * The tokens are well-formed JWTs for the resource asked for, issued by
 * `https://sts.windows.net/<tenant>/`, but unsigned (`alg: none`): what Azurite's
 * `--oauth basic` checks (issuer, audience, lifetime) holds, and nothing could mistake one for
 * a real token. Every request is recorded, so a test can say what the app asked for.
 */

export const APP_SERVICE_MSI_API_VERSION = '2019-08-01';

export interface ManagedIdentityEndpointOptions {
  /** Client ids of the user-assigned identities the app holds; a token for any other is refused. */
  readonly clientIds: readonly string[];
  /** Whether the app also has a system-assigned identity (a request without a client id); default false. */
  readonly systemAssigned?: boolean;
  /** The tenant in each token's issuer and `tid`; a fixed one by default. */
  readonly tenantId?: string;
  /** Every token names this audience instead of the resource asked for: a token for the wrong resource. */
  readonly audience?: string;
  /** Token lifetime in seconds; default 3,600. A negative lifetime issues tokens already expired. */
  readonly lifetimeSeconds?: number;
}

/** One request as the endpoint saw it. */
export interface TokenRequest {
  readonly resource: string | undefined;
  readonly clientId: string | undefined;
  readonly apiVersion: string | undefined;
  /** Whether X-IDENTITY-HEADER was the endpoint's secret. */
  readonly identityHeader: boolean;
  /** The status answered. */
  readonly status: number;
}

export interface ManagedIdentityEndpoint {
  /** What App Service sets for the app: IDENTITY_ENDPOINT and IDENTITY_HEADER. */
  readonly env: { readonly IDENTITY_ENDPOINT: string; readonly IDENTITY_HEADER: string };
  /** Every request so far, oldest first. */
  readonly requests: readonly TokenRequest[];
  stop(): Promise<void>;
}

const DEFAULT_TENANT = '11111111-2222-4333-8444-555555555555';
const PATH = '/msi/token';

export async function startManagedIdentityEndpoint(options: ManagedIdentityEndpointOptions): Promise<ManagedIdentityEndpoint> {
  const secret = randomBytes(24).toString('hex');
  const tenantId = options.tenantId ?? DEFAULT_TENANT;
  const lifetimeSeconds = options.lifetimeSeconds ?? 3_600;
  const requests: TokenRequest[] = [];

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const query = {
      resource: url.searchParams.get('resource') ?? undefined,
      clientId: url.searchParams.get('client_id') ?? undefined,
      apiVersion: url.searchParams.get('api-version') ?? undefined,
      identityHeader: headerMatches(request, secret),
    };
    const answer = (status: number, body: Record<string, unknown>): void => {
      requests.push({ ...query, status });
      send(response, status, body);
    };
    if (request.method !== 'GET' || url.pathname !== PATH)
      return answer(404, failure(404, `no such route: ${request.method} ${url.pathname}`));
    if (!query.identityHeader) return answer(401, failure(401, 'X-IDENTITY-HEADER is missing or not the endpoint secret'));
    if (query.apiVersion !== APP_SERVICE_MSI_API_VERSION) {
      return answer(400, failure(400, `api-version must be ${APP_SERVICE_MSI_API_VERSION}, got ${query.apiVersion ?? 'none'}`));
    }
    if (!query.resource) return answer(400, failure(400, 'resource is required'));
    if (url.searchParams.has('object_id') || url.searchParams.has('mi_res_id') || url.searchParams.has('principal_id')) {
      return answer(400, failure(400, 'this endpoint knows identities by client_id only'));
    }
    const known = query.clientId === undefined ? options.systemAssigned === true : options.clientIds.includes(query.clientId);
    if (!known) {
      return answer(
        400,
        failure(
          400,
          query.clientId === undefined
            ? 'the app has no system-assigned identity'
            : `the app holds no identity with client id ${query.clientId}`,
        ),
      );
    }
    const clientId = query.clientId ?? `system-${tenantId}`;
    const now = Math.floor(Date.now() / 1000);
    const expiresOn = now + lifetimeSeconds;
    const objectId = uuidFrom(`${tenantId}/${clientId}`);
    const token = unsignedJwt({
      aud: options.audience ?? query.resource,
      iss: `https://sts.windows.net/${tenantId}/`,
      iat: now,
      nbf: now,
      exp: expiresOn,
      appid: clientId,
      appidacr: '2',
      idtyp: 'app',
      oid: objectId,
      sub: objectId,
      tid: tenantId,
      uti: randomUUID(),
      ver: '1.0',
    });
    answer(200, {
      access_token: token,
      // As App Service writes it: epoch seconds, as a string.
      expires_on: String(expiresOn),
      resource: query.resource,
      token_type: 'Bearer',
      client_id: clientId,
    });
  });

  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    env: { IDENTITY_ENDPOINT: `http://127.0.0.1:${port}${PATH}`, IDENTITY_HEADER: secret },
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function headerMatches(request: IncomingMessage, secret: string): boolean {
  const given = request.headers['x-identity-header'];
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(secret);
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** App Service's error body: MSAL reports `message` as the error's description. */
function failure(statusCode: number, message: string): Record<string, unknown> {
  return { statusCode, message, correlationId: randomUUID() };
}

function send(response: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ typ: 'JWT', alg: 'none' })}.${part(claims)}.`;
}

/** A stable id for an identity, shaped like a GUID. */
function uuidFrom(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
