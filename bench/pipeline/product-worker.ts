import type { InvocationContext } from '@azure/functions';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { DevHost } from '../../local/dev-host/index.js';
import { FUNCTIONS } from '../../local/functions.js';
import { startLocalRuntime } from '../../local/stack.js';
import { graphRequestCounts } from '../../shared/adapters/graph/graph-metrics.js';
import { tableOperationCounts } from '../../shared/adapters/tables/table-metrics.js';
import { EVENTS } from '../../shared/events.js';
import { createLogger } from '../../shared/log.js';
import { parseEnvelope } from '../../shared/messages/index.js';
import { startHeapPeakRecorder, type HeapPeakRecorder } from './heap-peak.js';
import type { HandlerTiming, ParentMessage, PollRecord, Transition, WorkerFinal, WorkerMessage } from './protocol.js';

/**
 * One instance of the product as the benchmark runs it, in a process of its own so that its
 * peak RSS and CPU are its own: the runtime built from settings, and the dev host running the
 * real intake, import and follow-up functions. Several of these share one Azurite, broker and
 * simulator as Functions instances share the app's storage, Service Bus and tenant:
 * - Service Bus messages go to whichever instance takes them (competing receivers);
 * - each supplier file runs on one instance and each timer occurrence (sweeper, health probe) on
 *   one: the dev hosts share one host id, so they split them through their receipts in storage
 *   as Functions instances of one app do.
 * Lifecycle events are read from the product's own log lines (one per transition), so no extra
 * Table Storage reads disturb the timing.
 *
 * Environment: AzureWebJobsStorage, ServiceBusConnection, BENCH_SETTINGS (JSON of app settings),
 * BENCH_INSTANCE (this instance, 0-based), BENCH_HEAP_PROFILE_DIR.
 */

const instance = Number(process.env.BENCH_INSTANCE ?? '0');

const send = (message: WorkerMessage, sent?: () => void): void => {
  process.send?.(message, undefined, {}, () => sent?.());
};

const events: Record<string, number> = {};
const polls: PollRecord[] = [];
const handlers: Record<string, HandlerTiming> = {};
let transitions: Transition[] = [];
let filesTaken = 0;

const EVENT_NAME = /"event":"([^"]+)"/;
const POLL_EVENTS = new Set<string>([EVENTS.importPoll, EVENTS.autopilotPoll]);
let requeuedDevices = 0;
/** Lines at pino's warn level (40) or above; the first few are kept whole enough to say what went wrong. */
const WARNING_LEVEL = /"level":(?:[4-9]\d)/;
const KEPT_WARNINGS = 10;
const warnings: string[] = [];

function observe(line: string): void {
  const name = EVENT_NAME.exec(line)?.[1];
  if (name === undefined) return;
  events[name] = (events[name] ?? 0) + 1;
  if (warnings.length < KEPT_WARNINGS && WARNING_LEVEL.test(line)) warnings.push(warningOf(line));
  if (name !== EVENTS.deviceTransition && name !== EVENTS.sweeperRequeued && !POLL_EVENTS.has(name)) return;
  const entry = JSON.parse(line) as Record<string, unknown>;
  if (name === EVENTS.sweeperRequeued) {
    requeuedDevices += Number(entry.count ?? 0);
    return;
  }
  const at = Date.parse(String(entry.time));
  if (name === EVENTS.deviceTransition) {
    transitions.push([String(entry.serial), String(entry.to), at]);
    return;
  }
  const {
    level: _level,
    time: _time,
    msg: _msg,
    name: _name,
    event: _event,
    correlationId: _correlationId,
    tick: _tick,
    ...fields
  } = entry;
  polls.push({ at, tick: name === EVENTS.importPoll ? 'imports' : 'autopilot', instance, fields });
}

/** A warning line as event, message and its error's name, code and message. */
function warningOf(line: string): string {
  const entry = JSON.parse(line) as { event?: string; msg?: string; err?: { type?: string; code?: string; message?: string } };
  const err = entry.err ? ` — ${[entry.err.type, entry.err.code, entry.err.message].filter(Boolean).join(' ')}` : '';
  return `${entry.event ?? '?'}: ${entry.msg ?? ''}${err}`.slice(0, 400);
}

let pending = '';
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line) observe(line);
    done();
  },
});

/** Times every invocation, keyed by what it did: intake, import-chunk, the import poll, the Autopilot poll, re-tag, sweeper. */
function timed<H extends (input: never, context: InvocationContext) => unknown>(name: string, handler: H): H {
  const wrapped = async (input: never, context: InvocationContext): Promise<unknown> => {
    const started = performance.now();
    try {
      return await handler(input, context);
    } finally {
      const key = invocationKind(name, input);
      const timing = (handlers[key] ??= { invocations: 0, totalMs: 0, maxMs: 0 });
      const ms = performance.now() - started;
      timing.invocations += 1;
      timing.totalMs += ms;
      timing.maxMs = Math.max(timing.maxMs, ms);
    }
  };
  return wrapped as H;
}

function invocationKind(functionName: string, input: unknown): string {
  if (functionName === 'intakeHashFile') return 'intake (one file)';
  if (functionName !== 'importDevices' && functionName !== 'followUp') return functionName;
  const read = parseEnvelope(input);
  if (!read.ok) return functionName;
  const payload = read.envelope.payload as { tick?: string } | undefined;
  return read.envelope.kind === 'tick' ? `${payload?.tick ?? '?'} poll` : read.envelope.kind;
}

/** Counts the files this instance ran: which instance runs a file is the dev host's to decide, as in Azure. */
function countedFiles<H extends (input: never, context: InvocationContext) => unknown>(handler: H): H {
  const wrapped = async (input: never, context: InvocationContext): Promise<unknown> => {
    filesTaken += 1;
    return handler(input, context);
  };
  return wrapped as H;
}

const rssMib = (): number => process.memoryUsage().rss / 1024 / 1024;

const heapProfileDir = process.env.BENCH_HEAP_PROFILE_DIR;
const heap: HeapPeakRecorder | undefined = heapProfileDir ? await startHeapPeakRecorder(heapProfileDir, instance) : undefined;
const settings = JSON.parse(process.env.BENCH_SETTINGS ?? '{}') as Record<string, string>;
const log = createLogger({ level: 'info' }, sink);
const connections = {
  storageConnectionString: process.env.AzureWebJobsStorage ?? '',
  serviceBusConnectionString: process.env.ServiceBusConnection ?? '',
};
const local = await startLocalRuntime(connections, settings, log);
// Every function the app has, but the HTTP ones (nobody calls them here); timers on the scaled clock.
// One host id for every instance: they share blobs and timer runs as instances of one app in Azure.
const host = new DevHost({ ...connections, log, blobPollMs: 100, timeScale: local.config.timeScale, hostId: 'ztp-bench' });
for (const fn of FUNCTIONS) {
  if (fn.trigger === 'blob') host.storageBlob(fn.name, { ...fn.options, handler: countedFiles(timed(fn.name, fn.options.handler)) });
  else if (fn.trigger === 'serviceBus') host.serviceBusQueue(fn.name, { ...fn.options, handler: timed(fn.name, fn.options.handler) });
  else if (fn.trigger === 'timer') host.timer(fn.name, { ...fn.options, handler: timed(fn.name, fn.options.handler) });
}
await host.start();
send({ type: 'ready', instance, rssMib: rssMib() });

const sendProgress = (): void => {
  const batch = transitions;
  transitions = [];
  send({ type: 'progress', transitions: batch, tableOperations: tableOperationCounts() });
};
const progress = setInterval(sendProgress, 250);

/** How long the product gets to finish what it is running once asked to stop (real ms). */
const STOP_WAIT_MS = 60_000;

process.on('message', (message: ParentMessage) => {
  if (message.type !== 'stop') return;
  clearInterval(progress);
  void (async () => {
    // The figures are sent even when shutting down fails or hangs (a store too slow to answer the
    // invocations still running): they are what the run is for.
    const stopped = await Promise.race([
      host
        .stop()
        .then(() => local.stop())
        .then(
          () => 'stopped',
          (error: unknown) => `failed: ${String(error)}`,
        ),
      new Promise<string>((resolve) => setTimeout(resolve, STOP_WAIT_MS, `still stopping after ${STOP_WAIT_MS / 1000} s`).unref()),
    ]);
    if (stopped !== 'stopped') console.error(`the product ${stopped}; reporting what was measured`);
    const heapPeak = await heap?.stop().catch((error: unknown) => {
      console.error('writing the heap profile failed:', error);
      return undefined;
    });
    // The last transitions and counts, then the final figures: IPC keeps them in order.
    sendProgress();
    const final: WorkerFinal = {
      type: 'final',
      stopped,
      instance,
      events,
      warnings,
      requeuedDevices,
      cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      handlers,
      polls,
      failedInvocations: events['devhost.invocation-failed'] ?? 0,
      peakRssMib: process.resourceUsage().maxRSS / 1024,
      filesTaken,
      tableOperations: tableOperationCounts(),
      graphRequests: graphRequestCounts(),
      ...(heapPeak ? { heapPeak } : {}),
    };
    // A large message is still being written when send returns: disconnect once it is out.
    // Then exit, which is also when a CPU profile (--cpu-prof-dir) gets written.
    send(final, () => {
      process.disconnect();
      process.exit(0);
    });
  })();
});
