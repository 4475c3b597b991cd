import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BusiestWindow } from './busiest-window.js';
import { createSelfSignedCertificate } from './certificate.js';
import { createSimClock, type SimClock } from './clock.js';
import { errorBody, GraphHttpError, renderIdentity, renderImported, renderManagedDevice, type Answer, type ApiVersion } from './odata.js';
import {
  definedOnly,
  resolveFaults,
  resolveOptions,
  type FaultSettings,
  type GraphSimulatorOptions,
  type ThrottleSettings,
} from './options.js';
import { createRandom, type Random } from './random.js';
import { matchRoute } from './routes.js';
import { Tenant } from './tenant.js';

export type { GraphSimulatorOptions, SimulatorLatencies, ProfileRule, ThrottleSettings, FaultSettings, SimSeconds } from './options.js';
export { DEFAULT_LATENCIES, DEFAULT_THROTTLE } from './options.js';
export type { SimClock } from './clock.js';
export { isStructurallyValidHash, makeTestHardwareHash, type TestHashInput } from './hardware-hash.js';

export interface RequestLogEntry {
  /** Real time the request arrived (ms since epoch). */
  at: number;
  /** Simulated time the request arrived (ms since epoch). */
  simulatedAt: number;
  method: string;
  /** Path and query as sent. */
  url: string;
  /** Route name, e.g. "POST importedWindowsAutopilotDeviceIdentities/import"; "(unknown)" when none matched. */
  route: string;
  /** HTTP status answered; 0 when the connection was dropped before an answer. */
  status: number;
  /** Injected fault, if any. */
  fault?: 'drop' | 'drop-after-effect' | '5xx' | 'delay';
  durationMs: number;
}

export interface RequestStats {
  total: number;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
  byRouteAndStatus: Record<string, Record<string, number>>;
  throttled: number;
  dropped: number;
  injected5xx: number;
  /** The most requests and writes in any sliding 20 s, on either clock (see BusiestIntervals). */
  busiest: BusiestIntervals;
}

/**
 * The busiest sliding interval of BUSIEST_WINDOW_SECONDS, counted as requests arrive (every
 * Graph request, refused and throttled ones too; writes are every method but GET: imports,
 * deletes, updateDeviceProperties, sync, wipes): what a budget of "N per 20 s" is checked against.
 * - `simulated`: 20 s of the simulator's clock. Graph's limits are counted there, and so is the
 *   app's budget when ZTP_TIME_SCALE matches the clock (it divides the budget's window), so this
 *   is the one to compare with GRAPH_WRITES_PER_20S / GRAPH_REQUESTS_PER_20S.
 * - `real`: 20 s of real time; the same as `simulated` when the clock runs at 1×.
 */
export interface BusiestIntervals {
  windowSeconds: number;
  simulated: BusiestInterval;
  real: BusiestInterval;
}

export interface BusiestInterval {
  requests: number;
  writes: number;
  /** When the busiest interval's first request came (ISO, on that clock); null before any. */
  requestsFrom: string | null;
  writesFrom: string | null;
}

export const BUSIEST_WINDOW_SECONDS = 20;

/** The control routes of the simulator itself (not Graph), e.g. `GET /_simulator/stats`: never counted. */
export const CONTROL_PREFIX = '/_simulator/';

/** A device as a test sees it: the beta rendering, which carries the profile status. */
export type SimulatedIdentity = Record<string, unknown> & {
  id: string;
  serialNumber: string;
  groupTag: string;
  enrollmentState: string;
  deploymentProfileAssignmentStatus: string;
};
export type SimulatedImportedRecord = ReturnType<typeof renderImported>;
export type SimulatedManagedDevice = Record<string, unknown> & { id: string; serialNumber: string; managementState: string };

export interface GraphSimulator {
  readonly baseUrl: string;
  readonly port: number;
  /** PEM of the self-signed certificate when started with https (trust it as a CA). */
  readonly caCertPem: string | undefined;
  readonly clock: SimClock;
  stop(): Promise<void>;

  autopilotIdentities(): SimulatedIdentity[];
  importedRecords(): SimulatedImportedRecord[];
  managedDevices(): SimulatedManagedDevice[];
  requestLog(): RequestLogEntry[];
  stats(): RequestStats;
  /** Import rows received per serial (trimmed, upper case), every request counted, records deleted since included. */
  importsBySerial(): Record<string, number>;
  resetRequestLog(): void;

  setFaults(faults: Partial<FaultSettings>): void;
  setThrottle(throttle: Partial<ThrottleSettings>): void;
  /** The device with this serial never gets its profile: it stays `notAssigned` or sticks at `pending`. */
  blockProfileAssignment(serial: string, stuckAt?: 'notAssigned' | 'pending' | 'failed'): void;
  /** Whether this device boots (and so enrols) once its profile is assigned. */
  setDeviceBoots(serial: string, boots: boolean): void;
  addOtherTenantSerial(serial: string): void;
  /** Registers a device directly, as if imported long ago (for 806, paging and lookup tests). */
  addAutopilotIdentity(device: { serialNumber: string; groupTag?: string; manufacturer?: string; model?: string }): SimulatedIdentity;
}

const VERSIONS: readonly ApiVersion[] = ['v1.0', 'beta'];
const MAX_BODY_BYTES = 20 * 1024 * 1024;

export async function startGraphSimulator(options: GraphSimulatorOptions): Promise<GraphSimulator> {
  if (!options.token) throw new Error('startGraphSimulator: a bearer token is required');
  const resolved = resolveOptions(options);
  const clock = createSimClock({
    timeScale: options.clock?.timeScale ?? 1,
    startAt: options.clock?.startAt,
    realNow: options.clock?.realNow,
  });
  const tenant = new Tenant(clock, createRandom(resolved.seed), resolved);
  let faultRandom: Random = createRandom(resolved.faults.seed);
  const windows = { index: -1, writes: 0, requests: 0 };
  const log: RequestLogEntry[] = [];
  let stats = emptyStats();
  let busiest = busiestTrackers();
  const certificate = options.https ? createSelfSignedCertificate() : undefined;
  const scheme = certificate ? 'https' : 'http';

  const record = (entry: RequestLogEntry): void => {
    log.push(entry);
    if (log.length > resolved.requestLogLimit) log.splice(0, log.length - resolved.requestLogLimit);
    stats.total += 1;
    stats.byRoute[entry.route] = (stats.byRoute[entry.route] ?? 0) + 1;
    const status = String(entry.status);
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    const perRoute = (stats.byRouteAndStatus[entry.route] ??= {});
    perRoute[status] = (perRoute[status] ?? 0) + 1;
    if (entry.status === 429) stats.throttled += 1;
    if (entry.fault === 'drop' || entry.fault === 'drop-after-effect') stats.dropped += 1;
    if (entry.fault === '5xx') stats.injected5xx += 1;
  };

  /** Fixed windows of simulated time; throttled requests count too, as on the real service. */
  const throttleCheck = (write: boolean): number | undefined => {
    const windowMs = resolved.throttle.windowSeconds * 1000;
    const now = clock.now();
    const index = Math.floor(now / windowMs);
    if (index !== windows.index) Object.assign(windows, { index, writes: 0, requests: 0 });
    windows.requests += 1;
    if (write) windows.writes += 1;
    const over = windows.requests > resolved.throttle.requestsPer20s || (write && windows.writes > resolved.throttle.writesPer20s);
    if (!over) return undefined;
    return clock.toRealMs((index + 1) * windowMs - now);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = performance.now();
    const arrivedAt = Date.now();
    const simulatedAt = clock.now();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    if (url.startsWith(CONTROL_PREFIX)) return control(req, res, url);
    busiest.count(performance.timeOrigin + started, simulatedAt, method !== 'GET');
    const requestId = randomUUID();
    const clientRequestId = headerValue(req.headers['client-request-id']) ?? randomUUID();
    let route = '(unknown)';
    let fault: RequestLogEntry['fault'];
    const finish = (status: number): void =>
      record({ at: arrivedAt, simulatedAt, method, url, route, status, fault, durationMs: performance.now() - started });
    const send = (answer: Answer): void => {
      const headers: Record<string, string> = { 'request-id': requestId, 'client-request-id': clientRequestId, ...answer.headers };
      if (answer.body === undefined) {
        res.writeHead(answer.status, headers).end();
      } else {
        const payload = JSON.stringify(answer.body);
        res.writeHead(answer.status, {
          ...headers,
          'content-type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8',
          'content-length': String(Buffer.byteLength(payload)),
        });
        res.end(payload);
      }
      finish(answer.status);
    };
    const sendError = (error: GraphHttpError): void =>
      send({
        status: error.status,
        headers: error.headers,
        body: errorBody(error.code, error.message, requestId, clientRequestId, new Date(clock.now())),
      });
    const drop = (kind: 'drop' | 'drop-after-effect'): void => {
      fault = kind;
      req.socket.destroy();
      finish(0);
    };

    let rawBody: Buffer;
    try {
      rawBody = await readBody(req);
    } catch {
      return sendError(new GraphHttpError(413, 'RequestEntityTooLarge', 'The request body is too large.'));
    }

    const faults = resolved.faults;
    if (faultRandom.chance(faults.dropRate)) return drop('drop');
    if (faults.delayMs > 0 && faultRandom.chance(faults.delayRate)) {
      fault = 'delay';
      await new Promise((resolve) => setTimeout(resolve, faults.delayMs));
      if (req.socket.destroyed) return finish(0);
    }
    if (faultRandom.chance(faults.errorRate5xx)) {
      fault = '5xx';
      const status = faultRandom.pick([500, 502, 503, 504] as const);
      const code = { 500: 'InternalServerError', 502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'GatewayTimeout' }[status];
      return sendError(new GraphHttpError(status, code, 'Injected failure: the service is unavailable.'));
    }

    if (req.headers.authorization !== `Bearer ${options.token}`) {
      const message = req.headers.authorization ? 'Access token validation failure. Invalid audience.' : 'Access token is empty.';
      return sendError(new GraphHttpError(401, 'InvalidAuthenticationToken', message, { 'www-authenticate': 'Bearer realm=""' }));
    }

    try {
      const parsed = new URL(url, 'http://simulator');
      const [version, ...segments] = parsed.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (!VERSIONS.includes(version as ApiVersion)) throw new GraphHttpError(400, 'BadRequest', `Invalid version: ${version ?? ''}`);
      let body: unknown;
      if (rawBody.length > 0) {
        try {
          body = JSON.parse(rawBody.toString('utf8'));
        } catch {
          throw new GraphHttpError(
            400,
            'BadRequest',
            'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
          );
        }
      }
      const origin = `${scheme}://${req.headers.host ?? `127.0.0.1:${port}`}`;
      tenant.catchUp();
      const matched = matchRoute(
        { method, version: version as ApiVersion, segments, query: parsed.searchParams, body, origin },
        tenant,
        resolved,
      );
      route = matched.name;
      const retryAfterMs = throttleCheck(matched.write);
      if (retryAfterMs !== undefined) {
        const headers: Record<string, string> = faultRandom.chance(faults.omitRetryAfterRate)
          ? {}
          : { 'retry-after': formatSeconds(retryAfterMs) };
        throw new GraphHttpError(429, 'TooManyRequests', 'Too many requests.', headers);
      }
      const answer = matched.run();
      if (faultRandom.chance(faults.dropAfterEffectRate)) return drop('drop-after-effect');
      send(answer);
    } catch (error) {
      if (error instanceof GraphHttpError) return sendError(error);
      sendError(new GraphHttpError(500, 'InternalServerError', error instanceof Error ? error.message : String(error)));
    }
  };

  /** The simulator's own routes, with the same token: `GET /_simulator/stats` (what stats() returns). */
  const control = (req: http.IncomingMessage, res: http.ServerResponse, url: string): void => {
    const answer = (status: number, body: unknown): void => {
      const payload = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }).end(payload);
    };
    if (req.headers.authorization !== `Bearer ${options.token}`) return answer(401, { error: 'the bearer token is missing or wrong' });
    const path = new URL(url, 'http://simulator').pathname;
    if (path === `${CONTROL_PREFIX}stats` && req.method === 'GET') return answer(200, statistics());
    answer(404, { error: `no simulator route ${req.method ?? ''} ${path}` });
  };

  const statistics = (): RequestStats => ({ ...structuredClone(stats), busiest: busiest.report() });

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch(() => req.socket.destroy());
  };
  const server = certificate
    ? https.createServer({ cert: certificate.certPem, key: certificate.keyPem }, listener)
    : http.createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `${scheme}://127.0.0.1:${port}`;

  const identities = (): SimulatedIdentity[] => {
    tenant.catchUp();
    return [...tenant.identities.values()].map((i) => renderIdentity(i, 'beta', resolved.emptyId) as SimulatedIdentity);
  };

  return {
    baseUrl,
    port,
    caCertPem: certificate?.certPem,
    clock,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    autopilotIdentities: identities,
    importedRecords: () => {
      tenant.catchUp();
      return [...tenant.imported.values()].map(renderImported);
    },
    managedDevices: () => {
      tenant.catchUp();
      return [...tenant.managedDevices.values()].map((d) => renderManagedDevice(d, 'beta') as SimulatedManagedDevice);
    },
    requestLog: () => [...log],
    stats: statistics,
    importsBySerial: () => tenant.importsBySerial(),
    resetRequestLog: () => {
      log.length = 0;
      stats = emptyStats();
      busiest = busiestTrackers();
    },
    setFaults: (faults) => {
      resolved.faults = resolveFaults({ ...resolved.faults, ...definedOnly(faults) });
      faultRandom = createRandom(resolved.faults.seed);
    },
    setThrottle: (throttle) => {
      resolved.throttle = { ...resolved.throttle, ...definedOnly(throttle) };
    },
    blockProfileAssignment: (serial, stuckAt = 'notAssigned') => tenant.blockProfileAssignment(serial, stuckAt),
    setDeviceBoots: (serial, boots) => tenant.setDeviceBoots(serial, boots),
    addOtherTenantSerial: (serial) => tenant.addOtherTenantSerial(serial),
    addAutopilotIdentity: (device) => {
      tenant.catchUp();
      const identity = tenant.createIdentity(
        {
          serialNumber: device.serialNumber,
          groupTag: device.groupTag ?? '',
          productKey: '',
          userPrincipalName: '',
          manufacturer: device.manufacturer ?? 'Contoso',
          model: device.model ?? 'Laptop 7',
        },
        clock.now(),
      );
      return renderIdentity(identity, 'beta', resolved.emptyId) as SimulatedIdentity;
    },
  };
}

function emptyStats(): Omit<RequestStats, 'busiest'> {
  return { total: 0, byRoute: {}, byStatus: {}, byRouteAndStatus: {}, throttled: 0, dropped: 0, injected5xx: 0 };
}

/** Requests and writes per sliding window, on the real clock and the simulated one. */
function busiestTrackers(): { count(realAt: number, simulatedAt: number, write: boolean): void; report(): BusiestIntervals } {
  const windowMs = BUSIEST_WINDOW_SECONDS * 1000;
  const clocks = {
    simulated: { requests: new BusiestWindow(windowMs), writes: new BusiestWindow(windowMs) },
    real: { requests: new BusiestWindow(windowMs), writes: new BusiestWindow(windowMs) },
  };
  const iso = (at: number | undefined): string | null => (at === undefined ? null : new Date(Math.round(at)).toISOString());
  const interval = (windows: { requests: BusiestWindow; writes: BusiestWindow }): BusiestInterval => {
    const requests = windows.requests.busiest();
    const writes = windows.writes.busiest();
    return { requests: requests.count, writes: writes.count, requestsFrom: iso(requests.from), writesFrom: iso(writes.from) };
  };
  return {
    count(realAt, simulatedAt, write) {
      clocks.real.requests.add(realAt);
      clocks.simulated.requests.add(simulatedAt);
      if (write) {
        clocks.real.writes.add(realAt);
        clocks.simulated.writes.add(simulatedAt);
      }
    },
    report: () => ({ windowSeconds: BUSIEST_WINDOW_SECONDS, simulated: interval(clocks.simulated), real: interval(clocks.real) }),
  };
}

/** Seconds with up to three decimals, never 0: a sped-up clock makes Retry-After fractional. */
function formatSeconds(ms: number): string {
  return String(Math.max(0.001, Math.ceil(ms) / 1000));
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
