import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import functionsRuntime, {
  type HttpFunctionOptions,
  type HttpRequest as FunctionsHttpRequest,
  type HttpRequestInit,
  type HttpResponseInit,
  type ServiceBusQueueFunctionOptions,
  type StorageBlobFunctionOptions,
  type Timer,
  type TimerFunctionOptions,
} from '@azure/functions';
import { CronExpressionParser } from 'cron-parser';

// @azure/functions is CommonJS and Node's ESM loader does not see these two classes as named exports.
const { HttpRequest, HttpResponse, InvocationContext } = functionsRuntime;
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiver } from '@azure/service-bus';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import type { Logger } from '../../shared/log.js';
import { InstanceCoordination } from './instances.js';

/**
 * Runs the product's real function definitions — the exported options objects the Azure
 * Functions host is given — without the host:
 * - Service Bus queue triggers: peek-lock receive, complete when the handler resolves,
 *   abandon when it throws (the queue's max delivery count then dead-letters), like the host
 *   with autoCompleteMessages.
 * - Blob triggers with source EventGrid: a watcher lists the container and delivers each new
 *   or changed blob once (as Event Grid's BlobCreated would), four at a time (host.json),
 *   retrying a failed invocation a few times with backoff, as the host does before giving up;
 *   then, like the host, it puts the blob on the `webjobs-blobtrigger-poison` storage queue
 *   ({FunctionId, BlobType, ContainerName, BlobName, ETag}, base64 as the host encodes queue
 *   messages by default), where the sweeper finds it.
 * - HTTP triggers: their routes under /api on one local port, matched as the Functions host
 *   in Azure matches them (an encoded slash is a slash first; an optional last parameter may
 *   be left out; routes tried in the order of their function names, each with its methods). Request and response bodies are streams, as the app's HTTP streams setting
 *   (`app.setup({ enableHttpStream: true })`) has the Functions host hand them over: a body is
 *   read only as the handler reads it. Function keys are not checked locally (the Functions
 *   host does not check them locally either); in Azure they are.
 * - Timer triggers: run at the schedule's period divided by the stack's time scale, so
 *   they keep pace with a fast simulator clock.
 * - Several instances: dev hosts given the same `hostId` on one storage account act as
 *   instances of one Functions app (see instances.ts): each blob runs on one of them, each
 *   timer occurrence on one of them, and their queue receivers compete for messages.
 * It is for local runs and end-to-end tests, not a production host.
 */

export interface DevHostOptions {
  readonly serviceBusConnectionString: string;
  readonly storageConnectionString: string;
  readonly log: Logger;
  /** How often blob containers are listed for new files (ms). */
  readonly blobPollMs?: number;
  /** Concurrent messages per queue (host.json maxConcurrentCalls). */
  readonly maxConcurrentCalls?: number;
  /** Blob-triggered invocations at once; more wait their turn (host.json blobs.maxDegreeOfParallelism). */
  readonly maxBlobInvocations?: number;
  /** Port for HTTP routes; 0 picks a free one. */
  readonly httpPort?: number;
  /** Timer periods are divided by this (ZTP_TIME_SCALE). */
  readonly timeScale?: number;
  /**
   * The app these functions belong to: dev hosts with the same id on one storage account share
   * the work as instances of one Functions app do. Without it a dev host works alone.
   */
  readonly hostId?: string;
  /** How long a message's lock is renewed while its handler runs (host.json maxAutoLockRenewalDuration: 10 minutes). */
  readonly maxAutoLockRenewalMs?: number;
  /**
   * Every invocation runs inside this: e.g. with a runtime of its own (shared/runtime.ts
   * withRuntime), so several dev hosts in one process act as several instances of the app.
   */
  readonly invoke?: <T>(call: () => T) => T;
}

interface HttpRoute {
  readonly name: string;
  readonly options: HttpFunctionOptions;
  readonly pattern: RegExp;
  readonly params: string[];
}

/**
 * `devices/{serial}` -> a matcher for `/api/devices/<anything but a slash>`; an optional last
 * parameter (`devices/{serial?}`) may be left out with its slash, as in the Functions host's
 * route templates.
 */
function compileRoute(route: string): { pattern: RegExp; params: string[] } {
  const params: string[] = [];
  const segments = route.replace(/^\/+|\/+$/g, '').split('/');
  const body = segments
    .map((segment, index) => {
      const param = /^\{([A-Za-z0-9_]+)(?::[^}?]*)?(\?)?\}$/.exec(segment);
      if (param?.[1]) {
        params.push(param[1]);
        const optional = param[2] === '?' && index === segments.length - 1;
        return optional ? '(?:/([^/]+))?' : '/([^/]+)';
      }
      return `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
    })
    .join('');
  return { pattern: new RegExp(`^/api${body}/?$`, 'i'), params };
}

/**
 * The path routes are matched on, as the Functions host in Azure sees it: an encoded slash
 * is a slash by then, so a route parameter can never hold one (azure-functions-host #3998,
 * #5619, #9290: `{param}` answers 404 for a value holding %2F once deployed). Every other
 * escape stays for the parameter's own decoding.
 */
function routingPath(pathname: string): string {
  return pathname.replace(/%2f/gi, '/');
}

/**
 * The order the Functions host in Azure tries routes in: its function list sorted by name,
 * ignoring case (FunctionMetadataManager), each route mapped in turn with its methods as a
 * constraint (WebScriptHostHttpRoutesManager); the first route whose template and methods
 * match takes the request. No precedence of literal segments over parameters.
 */
function byFunctionName(a: HttpRoute, b: HttpRoute): number {
  const [x, y] = [a.name.toUpperCase(), b.name.toUpperCase()];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A malformed escape (`%ZZ`) is handed over as it came rather than failing the request. */
function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

interface BlobWatch {
  readonly name: string;
  readonly options: StorageBlobFunctionOptions;
  readonly container: string;
  readonly seen: Map<string, string>;
}

const BLOB_ATTEMPTS = 5;
/** How long a blob another instance is running is left alone before it is looked at again. */
const BUSY_BLOB_RECHECK_MS = 5_000;
/** host.json extensions.serviceBus.maxAutoLockRenewalDuration. */
const MAX_AUTO_LOCK_RENEWAL_MS = 10 * 60_000;
/** Where the Functions host puts a blob whose trigger failed on every attempt. */
const BLOB_POISON_QUEUE = 'webjobs-blobtrigger-poison';

export class DevHost {
  private readonly bus: ServiceBusClient;
  private readonly blobService: BlobServiceClient;
  private readonly receivers: ServiceBusReceiver[] = [];
  private readonly queues: { name: string; options: ServiceBusQueueFunctionOptions }[] = [];
  private readonly blobs: BlobWatch[] = [];
  private readonly routes: HttpRoute[] = [];
  private readonly timers: { name: string; options: TimerFunctionOptions }[] = [];
  private readonly timerHandles: NodeJS.Timeout[] = [];
  private server: Server | undefined;
  /** Where the HTTP routes listen, once started. */
  httpBaseUrl: string | undefined;
  private blobTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private blobInvocations = 0;
  private readonly blobTurns: (() => void)[] = [];
  private stopped = false;
  private readonly instances: InstanceCoordination | undefined;
  /** Blob versions another instance is running, and when to look at each again. */
  private readonly busyBlobs = new Map<string, number>();
  /** Invocations that failed for good (after the blob retries). */
  readonly failures: { functionName: string; error: string }[] = [];

  constructor(private readonly options: DevHostOptions) {
    this.bus = new ServiceBusClient(options.serviceBusConnectionString);
    this.blobService = BlobServiceClient.fromConnectionString(options.storageConnectionString);
    this.instances =
      options.hostId === undefined
        ? undefined
        : new InstanceCoordination(options.storageConnectionString, options.hostId, (error) =>
            options.log.debug({ event: 'devhost.receipt-renew-failed', err: error }, 'a blob receipt lease could not be renewed'),
          );
  }

  serviceBusQueue(name: string, options: ServiceBusQueueFunctionOptions): this {
    this.queues.push({ name, options });
    return this;
  }

  storageBlob(name: string, options: StorageBlobFunctionOptions): this {
    const [container] = options.path.split('/');
    if (!container) throw new Error(`Blob trigger ${name} has no container in its path ${options.path}`);
    this.blobs.push({ name, options, container, seen: new Map() });
    return this;
  }

  http(name: string, options: HttpFunctionOptions): this {
    this.routes.push({ name, options, ...compileRoute(options.route ?? name) });
    return this;
  }

  timer(name: string, options: TimerFunctionOptions): this {
    this.timers.push({ name, options });
    return this;
  }

  async start(): Promise<void> {
    for (const { name, options } of this.queues) this.startQueue(name, options);
    if (this.routes.length > 0) await this.startHttp();
    for (const { name, options } of this.timers) this.startTimer(name, options);
    for (const watch of this.blobs) await this.blobService.getContainerClient(watch.container).createIfNotExists();
    const pollMs = this.options.blobPollMs ?? 250;
    const loop = (): void => {
      if (this.stopped) return;
      this.polling = this.pollBlobs().finally(() => {
        if (!this.stopped) this.blobTimer = setTimeout(loop, pollMs);
      });
    };
    if (this.blobs.length > 0) loop();
  }

  private startQueue(name: string, options: ServiceBusQueueFunctionOptions): void {
    const receiver = this.bus.createReceiver(options.queueName, {
      receiveMode: 'peekLock',
      maxAutoLockRenewalDurationInMs: this.options.maxAutoLockRenewalMs ?? MAX_AUTO_LOCK_RENEWAL_MS,
    });
    this.receivers.push(receiver);
    receiver.subscribe(
      {
        processMessage: async (message: ServiceBusReceivedMessage) => {
          const context = new InvocationContext({
            invocationId: randomUUID(),
            functionName: name,
            triggerMetadata: {
              messageId: message.messageId,
              deliveryCount: message.deliveryCount,
              enqueuedTimeUtc: message.enqueuedTimeUtc?.toISOString(),
              correlationId: message.correlationId,
              subject: message.subject,
            },
            logHandler: () => undefined,
          });
          const run = Promise.resolve(this.invoke(() => options.handler(message.body, context)));
          this.inFlight.add(run);
          try {
            await run;
          } catch (error) {
            this.options.log.warn(
              {
                event: 'devhost.invocation-failed',
                functionName: name,
                messageId: message.messageId,
                deliveryCount: message.deliveryCount,
                err: error,
              },
              `${name} failed; the message will be redelivered or dead-lettered`,
            );
            throw error;
          } finally {
            this.inFlight.delete(run);
          }
        },
        processError: async (args) => {
          if (this.stopped) return;
          this.options.log.debug({ event: 'devhost.receiver-error', functionName: name, err: args.error }, 'receiver error');
        },
      },
      { autoCompleteMessages: true, maxConcurrentCalls: this.options.maxConcurrentCalls ?? 8 },
    );
  }

  private async pollBlobs(): Promise<void> {
    for (const watch of this.blobs) {
      try {
        const container = this.blobService.getContainerClient(watch.container);
        for await (const blob of container.listBlobsFlat()) {
          const etag = blob.properties.etag ?? '';
          if (watch.seen.get(blob.name) === etag) continue;
          if ((this.busyBlobs.get(`${watch.name}/${blob.name}/${etag}`) ?? 0) > Date.now()) continue;
          watch.seen.set(blob.name, etag);
          const run = this.invokeBlob(watch, blob.name, etag);
          this.inFlight.add(run);
          void run.finally(() => this.inFlight.delete(run));
        }
      } catch (error) {
        if (!this.stopped) this.options.log.debug({ event: 'devhost.blob-poll-failed', err: error }, 'listing blobs failed');
      }
    }
  }

  private async invokeBlob(watch: BlobWatch, blobName: string, etag: string): Promise<void> {
    // A finishing invocation hands its slot straight to the next one waiting.
    if (this.blobInvocations >= (this.options.maxBlobInvocations ?? 4)) await new Promise<void>((resolve) => this.blobTurns.push(resolve));
    else this.blobInvocations++;
    try {
      await this.invokeBlobOnce(watch, blobName, etag);
    } finally {
      const next = this.blobTurns.shift();
      if (next) next();
      else this.blobInvocations--;
    }
  }

  /** With other instances: runs the blob only if this instance takes its receipt, and marks it done for all of them after. */
  private async invokeBlobOnce(watch: BlobWatch, blobName: string, etag: string): Promise<void> {
    if (!this.instances) return void (await this.invokeBlobWithRetries(watch, blobName, etag));
    const key = `${watch.name}/${blobName}/${etag}`;
    let claim;
    try {
      claim = await this.instances.claimBlob(watch.name, watch.container, blobName, etag);
    } catch (error) {
      this.options.log.debug({ event: 'devhost.receipt-failed', blob: `${watch.container}/${blobName}`, err: error }, 'no blob receipt');
      claim = 'busy' as const;
    }
    if (claim === 'done') return void this.busyBlobs.delete(key);
    if (claim === 'busy') {
      // Another instance runs it; should that one die, its lease expires and this one looks again.
      if (watch.seen.get(blobName) === etag) watch.seen.delete(blobName);
      this.busyBlobs.set(key, Date.now() + BUSY_BLOB_RECHECK_MS);
      return;
    }
    this.busyBlobs.delete(key);
    const finished = await this.invokeBlobWithRetries(watch, blobName, etag);
    // Stopped before an outcome: the blob is left to another instance, or to this one's next start.
    await (finished ? claim.complete() : claim.release()).catch((error: unknown) =>
      this.options.log.debug(
        { event: 'devhost.receipt-failed', blob: `${watch.container}/${blobName}`, err: error },
        'blob receipt not updated',
      ),
    );
  }

  /** True once the blob has an outcome: run, or put on the poison queue. */
  private async invokeBlobWithRetries(watch: BlobWatch, blobName: string, etag: string): Promise<boolean> {
    const fullPath = `${watch.container}/${blobName}`;
    const [, supplier, ...rest] = fullPath.split('/');
    for (let attempt = 1; attempt <= BLOB_ATTEMPTS && !this.stopped; attempt++) {
      const context = new InvocationContext({
        invocationId: randomUUID(),
        functionName: watch.name,
        triggerMetadata: { blobTrigger: fullPath, supplier, name: rest.join('/'), uri: `${watch.container}/${blobName}` },
        logHandler: () => undefined,
      });
      try {
        // The real host passes the content; the product streams it itself, so none is read here.
        await this.invoke(() => watch.options.handler(Buffer.alloc(0), context));
        return true;
      } catch (error) {
        this.options.log.warn(
          { event: 'devhost.invocation-failed', functionName: watch.name, blob: fullPath, attempt, err: error },
          `${watch.name} failed`,
        );
        if (attempt === BLOB_ATTEMPTS) {
          this.failures.push({ functionName: watch.name, error: error instanceof Error ? error.message : String(error) });
          await this.poisonBlob(watch, blobName, etag);
          return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt).unref());
      }
    }
    return false;
  }

  private async poisonBlob(watch: BlobWatch, blobName: string, etag: string): Promise<void> {
    const message = {
      FunctionId: `Host.Functions.${watch.name}`,
      BlobType: 'BlockBlob',
      ContainerName: watch.container,
      BlobName: blobName,
      ETag: etag,
    };
    try {
      const queue = new QueueClient(this.options.storageConnectionString, BLOB_POISON_QUEUE);
      await queue.createIfNotExists();
      await queue.sendMessage(Buffer.from(JSON.stringify(message)).toString('base64'));
    } catch (error) {
      this.options.log.warn(
        { event: 'devhost.blob-poison-failed', blob: `${watch.container}/${blobName}`, err: error },
        'could not queue the poisoned blob',
      );
    }
  }

  private async startHttp(): Promise<void> {
    this.routes.sort(byFunctionName);
    const server = createServer((req, res) => {
      const run = this.serveHttp(req, res);
      this.inFlight.add(run);
      void run.finally(() => this.inFlight.delete(run));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.httpPort ?? 0, '127.0.0.1', () => resolve());
    });
    this.httpBaseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private async serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The URL the route was called on, port included, as the Functions host hands it over.
    const url = new URL(req.url ?? '/', this.httpBaseUrl ?? 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    let matchedPath = false;
    const path = routingPath(url.pathname);
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      matchedPath = true;
      const methods = (route.options.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase());
      if (!methods.includes(method)) continue;
      // A parameter left out is absent, as the Functions host leaves it.
      const params = Object.fromEntries(
        route.params.flatMap((name, index) => {
          const value = match[index + 1];
          return value === undefined ? [] : [[name, decodeParam(value)]];
        }),
      );
      const request = streamedRequest(req, url, method, params);
      const context = new InvocationContext({ invocationId: randomUUID(), functionName: route.name, logHandler: () => undefined });
      let response: HttpResponseInit;
      try {
        response = ((await this.invoke(() => route.options.handler(request, context))) ?? {}) as HttpResponseInit;
      } catch (error) {
        this.options.log.warn({ event: 'devhost.invocation-failed', functionName: route.name, err: error }, `${route.name} failed`);
        response = { status: 500, jsonBody: { error: { code: 'internal-error', message: 'The function failed; see the log.' } } };
      }
      await writeResponse(req, res, response).catch((error: unknown) => {
        this.options.log.debug({ event: 'devhost.response-failed', functionName: route.name, err: error }, 'the answer could not be sent');
        res.destroy();
      });
      return;
    }
    const code = matchedPath ? 'method-not-allowed' : 'not-found';
    await writeResponse(req, res, { status: matchedPath ? 405 : 404, jsonBody: { error: { code, message: `${method} ${url.pathname}` } } });
  }

  private startTimer(name: string, options: TimerFunctionOptions): void {
    const schedule = CronExpressionParser.parse(String(options.schedule));
    const first = schedule.next().getTime();
    const period = Math.max(50, (schedule.next().getTime() - first) / (this.options.timeScale ?? 1));
    const fire = async (): Promise<void> => {
      const timer: Timer = {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: {
          last: new Date().toISOString(),
          next: new Date(Date.now() + period).toISOString(),
          lastUpdated: new Date().toISOString(),
        },
      };
      const context = new InvocationContext({ invocationId: randomUUID(), functionName: name, logHandler: () => undefined });
      try {
        await this.invoke(() => options.handler(timer, context));
      } catch (error) {
        this.options.log.warn({ event: 'devhost.invocation-failed', functionName: name, err: error }, `${name} failed`);
      }
    };
    const track = (run: Promise<void>, then: () => void): void => {
      this.inFlight.add(run);
      void run.finally(() => {
        this.inFlight.delete(run);
        if (!this.stopped) then();
      });
    };
    const instances = this.instances;
    if (!instances) {
      const tick = (): void => {
        if (!this.stopped) track(fire(), () => this.timerHandles.push(setTimeout(tick, period)));
      };
      if (options.runOnStartup) tick();
      else this.timerHandles.push(setTimeout(tick, period));
      return;
    }
    // With other instances: occurrences at whole multiples of the period, the same instants on
    // every instance, each run by the one instance that claims it.
    const next = (): void => {
      const slot = Math.floor(Date.now() / period) + 1;
      const wait = Math.max(0, slot * period - Date.now());
      this.timerHandles.push(
        setTimeout(() => {
          if (this.stopped) return;
          const run = instances.claimTimerSlot(name, slot).then(
            (mine) => (mine && !this.stopped ? fire() : undefined),
            (error: unknown) =>
              this.options.log.debug(
                { event: 'devhost.timer-claim-failed', functionName: name, err: error },
                'timer occurrence not claimed',
              ),
          );
          track(run, next);
        }, wait),
      );
    };
    // As in the Functions host, runOnStartup runs on every instance that starts.
    if (options.runOnStartup) track(fire(), next);
    else next();
  }

  private invoke<T>(call: () => T): T {
    return this.options.invoke ? this.options.invoke(call) : call();
  }

  /** Resolves when no invocation is running. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.blobTimer) clearTimeout(this.blobTimer);
    for (const handle of this.timerHandles) clearTimeout(handle);
    if (this.server) {
      const server = this.server;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await this.polling;
    await Promise.allSettled(this.receivers.map((receiver) => receiver.close()));
    await Promise.allSettled([...this.inFlight]);
    await this.bus.close();
  }
}

/**
 * The request as the Functions host hands it to the app with HTTP streams on
 * (`app.setup({ enableHttpStream: true })`): @azure/functions' own `createStreamRequest`
 * (src/http/HttpRequest.ts) makes a fetch Request whose body is the incoming HTTP message
 * itself, read only as the handler reads it, and gives it to HttpRequest as `nativeRequest`.
 * The same here, with the same class, so nothing is buffered before the handler runs. Not
 * passing `url` makes HttpRequest fail loudly if it ever stopped taking `nativeRequest`.
 */
function streamedRequest(req: IncomingMessage, url: URL, method: string, params: Record<string, string>): FunctionsHttpRequest {
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const nativeRequest = new Request(url, { method, headers, ...(hasBody ? { body: req, duplex: 'half' } : {}) } as RequestInit);
  return new HttpRequest({ nativeRequest, params } as unknown as HttpRequestInit);
}

/** Response headers the worker's HTTP proxy does not pass on (hop-by-hop), as in @azure/functions' sendProxyResponse. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The answer as the worker sends it with HTTP streams on: made into @azure/functions'
 * HttpResponse (JSON, text, bytes and streams alike), its body written as it is read. A request
 * whose body the handler left unread (a refusal before or during the upload) closes the
 * connection after the answer: the rest of the body is never read, and the connection cannot
 * carry another request.
 */
async function writeResponse(req: IncomingMessage, res: ServerResponse, init: HttpResponseInit): Promise<void> {
  const response = new HttpResponse(init);
  const headers: Record<string, string> = {};
  for (const [key, value] of response.headers.entries()) if (!HOP_BY_HOP.has(key)) headers[key] = value;
  if (!req.complete) headers.connection = 'close';
  res.writeHead(response.status, headers);
  if (response.body) {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      // A client that went away takes nothing more: the answer is dropped, not waited on.
      if (res.destroyed) break;
      if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
  }
  res.end();
}
