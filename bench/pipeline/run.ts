import { BlobServiceClient } from '@azure/storage-blob';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_LATENCIES,
  DEFAULT_THROTTLE,
  startGraphSimulator,
  type GraphSimulator,
  type RequestLogEntry,
} from '../../local/graph-simulator/index.js';
import { startLocalInfrastructure } from '../../local/stack.js';
import { INTAKE_CONTAINER } from '../../shared/services/intake.js';
import { runImportAutopilotCsvBaseline, type BaselineResult } from './baseline.js';
import { computeFloor, type Floor } from './floor.js';
import { processCpuSeconds } from '../process-cpu.js';
import { fixed, int, ratio, seconds, table } from './format.js';
import type { TimedState, WorkerFinal, WorkerMessage, WorkerProgress } from './protocol.js';
import { countRequests, kindOf, REQUEST_KINDS, type RequestCounts } from './requests.js';
import { BENCH_SUPPLIER, buildWorkload, PROFILE_RULE, type Workload } from './workload.js';

/**
 * The pipeline benchmark: 10,000 devices in 20 supplier files through the whole product
 * (intake, import, follow-ups) against the Graph simulator with its default latencies and
 * the documented per-app limits, all on a sped-up clock; then the same devices through a
 * client that works like Import-AutopilotCSV, on a fresh simulator. Prints Graph requests per
 * device by kind, 429s, and the time to all registered / enrolled against the floor the
 * simulator imposes. See README.md, "bench/pipeline".
 */

const { values: flags } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    files: { type: 'string', default: '20' },
    /** Simulated seconds per real second, for the simulator and ZTP_TIME_SCALE alike. */
    scale: { type: 'string', default: '60' },
    /** An app setting for the product run, e.g. --set GRAPH_PAGE_SIZE=100 (repeatable). */
    set: { type: 'string', multiple: true, default: [] },
    'skip-baseline': { type: 'boolean', default: false },
    /**
     * Stop the product run once every device is registered: with it, --scale 1 measures the
     * time to registered on a real-time clock in a few minutes (enrolment alone takes 49 minutes).
     */
    'until-registered': { type: 'boolean', default: false },
    /** How long (simulated seconds) to wait after the last device settles for the import records to be cleaned up. */
    'cleanup-grace': { type: 'string', default: '14400' },
    /** Write a V8 CPU profile of the product process into this directory. */
    'cpu-prof-dir': { type: 'string' },
    /** Give up on the product run after this many real minutes. */
    'timeout-minutes': { type: 'string', default: '30' },
  },
});

const DEVICES = Number(flags.devices);
const FILES = Number(flags.files);
const SCALE = Number(flags.scale);
const CLEANUP_GRACE_S = Number(flags['cleanup-grace']);
const UNTIL_REGISTERED = flags['until-registered'] === true;
const TIMEOUT_MS = Number(flags['timeout-minutes']) * 60_000;
const OVERRIDES = Object.fromEntries(
  (flags.set ?? []).map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--set wants KEY=VALUE, got "${pair}"`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
if (!Number.isInteger(DEVICES) || !Number.isInteger(FILES) || DEVICES % FILES !== 0)
  throw new Error('--devices must be a multiple of --files');
if (!(SCALE > 0)) throw new Error('--scale must be positive');

const TOKEN = 'bench-pipeline-token';
const TARGETS = { writesPerDevice: 1.2, readsPerDevice: 0.2, throttled: 0, registeredRatio: 1.25 };
const WORKER = fileURLToPath(new URL('./product-worker.ts', import.meta.url));

const log = (text: string): void => console.log(text);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function startSimulator(): Promise<GraphSimulator> {
  return startGraphSimulator({
    token: TOKEN,
    clock: { timeScale: SCALE },
    profileRules: [PROFILE_RULE],
    latencies: DEFAULT_LATENCIES,
    throttle: DEFAULT_THROTTLE,
    requestLogLimit: 10_000_000,
  });
}

// ---- product run ---------------------------------------------------------------------

interface ProductRun {
  /** Simulated ms at which the last file was in storage. */
  t0: number;
  final: WorkerFinal;
  startRssMib: number;
  requests: readonly RequestLogEntry[];
  /** Simulated ms at which Autopilot enrolled each device (from the simulator's managed devices). */
  autopilotEnrolledAt: number[];
  importRecordsLeft: number;
  timedOut: boolean;
  /** Real ms → simulated ms. */
  toSim: (realMs: number) => number;
  /** CPU seconds spent during the run by Azurite and by this process (the simulator), beside the product's own. */
  azuriteCpuSeconds: number | undefined;
  simulatorCpuSeconds: number;
  /** Real seconds from t0 to the end of the run. */
  realSeconds: number;
}

function startWorker(env: Record<string, string>): {
  child: ChildProcess;
  messages: AsyncIterableIterator<WorkerMessage>;
  latest: () => WorkerProgress | undefined;
} {
  const profile = flags['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${flags['cpu-prof-dir']}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', WORKER], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  // Outside the Functions host, @azure/functions warns once per registered function: noise here.
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (!/^WARNING: (Failed to detect the Azure Functions runtime|Skipping call to register function)/.test(line))
      process.stderr.write(`${line}\n`);
  });
  const queue: WorkerMessage[] = [];
  let wake: (() => void) | undefined;
  let latest: WorkerProgress | undefined;
  let exited = false;
  child.on('message', (message: WorkerMessage) => {
    if (message.type === 'progress') latest = message;
    else queue.push(message);
    wake?.();
  });
  child.once('exit', () => {
    exited = true;
    wake?.();
  });
  const messages = (async function* () {
    for (;;) {
      const next = queue.shift();
      if (next) yield next;
      else if (exited) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  })();
  return { child, messages, latest: () => latest };
}

async function nextMessage<T extends WorkerMessage['type']>(
  messages: AsyncIterableIterator<WorkerMessage>,
  type: T,
): Promise<Extract<WorkerMessage, { type: T }>> {
  for (;;) {
    const { value, done } = await messages.next();
    if (done) throw new Error(`the product process ended before sending "${type}"`);
    if (value.type === type) return value as Extract<WorkerMessage, { type: T }>;
  }
}

async function runProduct(workload: Workload): Promise<ProductRun> {
  const infrastructure = await startLocalInfrastructure();
  const sim = await startSimulator();
  const azuriteCpuAtStart = processCpuSeconds(infrastructure.azurite.pid);
  const ownCpuAtStart = process.cpuUsage();
  let worker: ReturnType<typeof startWorker> | undefined;
  try {
    const settings: Record<string, string> = {
      ZTP_SUPPLIERS: JSON.stringify([BENCH_SUPPLIER]),
      GRAPH_BASE_URL: sim.baseUrl,
      GRAPH_STATIC_TOKEN: TOKEN,
      ZTP_TIME_SCALE: String(SCALE),
      LOG_LEVEL: 'info',
      ...OVERRIDES,
    };
    worker = startWorker({
      AzureWebJobsStorage: infrastructure.storageConnectionString,
      ServiceBusConnection: infrastructure.serviceBusConnectionString,
      BENCH_SETTINGS: JSON.stringify(settings),
    });
    const ready = await nextMessage(worker.messages, 'ready');

    const container = BlobServiceClient.fromConnectionString(infrastructure.storageConnectionString).getContainerClient(INTAKE_CONTAINER);
    await container.createIfNotExists();
    const uploadStarted = Date.now();
    await Promise.all(workload.files.map((file) => container.getBlockBlobClient(file.blobName).uploadData(file.bytes)));
    const t0Real = Date.now();
    const t0 = sim.clock.now();
    const toSim = (realMs: number): number => t0 + (realMs - t0Real) * SCALE;
    const sinceT0 = (): number => (sim.clock.now() - t0) / 1000;
    log(`product: ${workload.files.length} files uploaded in ${int(t0Real - uploadStarted)} ms real; t0 = now`);

    const n = workload.devices.length;
    let settledAt: number | undefined;
    let lastPrint = 0;
    let timedOut = false;
    for (;;) {
      // Only decides when to stop: the times come from the product's own log lines.
      await sleep(1_000);
      const progress = worker.latest();
      const settled = progress ? progress.settled : 0;
      const records = sim.importedRecords().length;
      if (Date.now() - lastPrint > 5_000) {
        lastPrint = Date.now();
        const reached = progress?.reached;
        const stats = sim.stats();
        log(
          `  t+${int(sinceT0())} s  received ${int(reached?.received ?? 0)}  importing ${int(reached?.importing ?? 0)}  registered ${int(reached?.registered ?? 0)}` +
            `  profile ${int(reached?.['profile-assigned'] ?? 0)}  enrolled ${int(reached?.enrolled ?? 0)}  | Graph ${int(stats.total)} (429: ${stats.throttled})  import records ${int(records)}`,
        );
      }
      if (UNTIL_REGISTERED && (progress?.reached.registered ?? 0) >= n) break;
      if (settled >= n) settledAt ??= sim.clock.now();
      if (settledAt !== undefined && (records === 0 || (sim.clock.now() - settledAt) / 1000 > CLEANUP_GRACE_S)) break;
      if (Date.now() - t0Real > TIMEOUT_MS) {
        timedOut = true;
        log(`product: gave up after ${flags['timeout-minutes']} real minutes`);
        break;
      }
    }

    worker.child.send({ type: 'stop' });
    const final = await Promise.race([
      nextMessage(worker.messages, 'final'),
      sleep(120_000).then(() => Promise.reject(new Error('the product process did not report within 2 minutes of being asked to stop'))),
    ]);
    const autopilotEnrolledAt = sim
      .managedDevices()
      .map((device) => Date.parse(String(device.enrolledDateTime)))
      .sort((a, b) => a - b);
    const azuriteCpu = processCpuSeconds(infrastructure.azurite.pid);
    const ownCpu = process.cpuUsage(ownCpuAtStart);
    return {
      t0,
      final,
      azuriteCpuSeconds: azuriteCpu === undefined || azuriteCpuAtStart === undefined ? undefined : azuriteCpu - azuriteCpuAtStart,
      simulatorCpuSeconds: (ownCpu.user + ownCpu.system) / 1e6,
      realSeconds: (Date.now() - t0Real) / 1000,
      startRssMib: ready.rssMib,
      requests: sim.requestLog(),
      autopilotEnrolledAt,
      importRecordsLeft: sim.importedRecords().length,
      timedOut,
      toSim,
    };
  } finally {
    // The product exits by itself once it has reported (writing its CPU profile, if asked).
    if (worker && worker.child.exitCode === null) {
      const child = worker.child;
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    await sim.stop();
    await infrastructure.stop();
  }
}

// ---- baseline run --------------------------------------------------------------------

interface BaselineRun {
  result: BaselineResult;
  requests: readonly RequestLogEntry[];
}

async function runBaseline(workload: Workload): Promise<BaselineRun> {
  const sim = await startSimulator();
  try {
    let lastPrint = 0;
    const result = await runImportAutopilotCsvBaseline({
      baseUrl: sim.baseUrl,
      token: TOKEN,
      clock: sim.clock,
      devices: workload.devices,
      onProgress: (text) => {
        if (Date.now() - lastPrint < 5_000) return;
        lastPrint = Date.now();
        log(`  ${text}`);
      },
    });
    return { result, requests: sim.requestLog() };
  } finally {
    await sim.stop();
  }
}

// ---- report --------------------------------------------------------------------------

const verdict = (pass: boolean | undefined): string => (pass === undefined ? '' : pass ? 'PASS' : 'FAIL');

/** The time at which the n-th device reached a state (all of them when n is the device count). */
function allReached(run: ProductRun, state: TimedState, n: number): number | undefined {
  const times = run.final.firstReached[state];
  return times.length >= n ? (run.toSim(times[n - 1]!) - run.t0) / 1000 : undefined;
}

function printRequests(n: number, product: RequestCounts, baseline: RequestCounts | undefined): void {
  const kinds = [...new Set([...product.byKind.keys(), ...(baseline?.byKind.keys() ?? [])])].filter(
    (kind) =>
      (product.byKind.get(kind)?.requests ?? 0) + (baseline?.byKind.get(kind)?.requests ?? 0) > 0 ||
      REQUEST_KINDS.some((known) => known.kind === kind && known.kind.startsWith('import POST (batch)')),
  );
  const cells = (counts: RequestCounts | undefined, kind: string): string[] => {
    const count = counts?.byKind.get(kind);
    if (!counts) return ['', '', '', ''];
    return [int(count?.requests ?? 0), fixed((count?.requests ?? 0) / n, 3), int(count?.throttled ?? 0), int(count?.notFound ?? 0)];
  };
  const rows = kinds.map((kind) => [
    `${(product.byKind.get(kind)?.write ?? baseline?.byKind.get(kind)?.write) ? 'write' : 'read '}  ${kind}`,
    ...cells(product, kind),
    ...cells(baseline, kind),
  ]);
  const totals = (counts: RequestCounts | undefined, which: 'writes' | 'reads'): string[] =>
    counts ? [int(counts[which]), fixed(counts[which] / n, 3), '', ''] : ['', '', '', ''];
  rows.push(['all writes', ...totals(product, 'writes'), ...totals(baseline, 'writes')]);
  rows.push(['all reads (status)', ...totals(product, 'reads'), ...totals(baseline, 'reads')]);
  const answers = (counts: RequestCounts | undefined): string[] =>
    counts ? ['', '', int(counts.throttled), int(counts.notFound)] : ['', '', '', ''];
  rows.push(['429 / 404 answers', ...answers(product), ...answers(baseline)]);
  log(table(['Graph requests (sent, 429s included)', 'product', 'per device', '429', '404', 'baseline', 'per device', '429', '404'], rows));
}

interface Phase {
  name: string;
  from: number;
  to: number;
}

/** Phases cover the whole run: the first also takes anything sent before t0, the last anything after its end. */
function printPhases(run: ProductRun, phases: readonly Phase[]): void {
  const rows: string[][] = [];
  for (const [index, phase] of phases.entries()) {
    const from = index === 0 ? -Infinity : phase.from;
    const to = index === phases.length - 1 ? Infinity : phase.to;
    const inPhase = run.requests.filter((entry) => entry.simulatedAt >= from && entry.simulatedAt < to);
    const byKind = new Map<string, number>();
    for (const entry of inPhase) byKind.set(kindOf(entry), (byKind.get(kindOf(entry)) ?? 0) + 1);
    const throttled = inPhase.filter((entry) => entry.status === 429).length;
    const detail = [...byKind.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([kind, count]) => `${kind} ${int(count)}`)
      .join(', ');
    rows.push([phase.name, seconds((phase.to - phase.from) / 1000), int(inPhase.length), int(throttled), detail]);
  }
  log(table(['phase (simulated time)', 'length', 'requests', '429', 'by kind'], rows));
}

/** A poll's log field: numbers with separators, timings (`ms`) as `list 12 scan 40 …`. */
function showField(value: unknown): string {
  if (typeof value === 'number') return int(value);
  if (value !== null && typeof value === 'object')
    return `(${Object.entries(value)
      .map(([key, inner]) => `${key} ${showField(inner)}`)
      .join(' ')})`;
  return String(value);
}

function printPolls(run: ProductRun): void {
  const rows = run.final.polls.map((poll) => {
    const fields = Object.entries(poll.fields)
      .map(([key, value]) => `${key} ${showField(value)}`)
      .join(', ');
    return [`t+${int((run.toSim(poll.at) - run.t0) / 1000)} s`, poll.tick, fields];
  });
  const shown = rows.length > 60 ? [...rows.slice(0, 40), ['…', '', `${rows.length - 50} more`], ...rows.slice(-10)] : rows;
  log(table(['poll ended', 'poll', 'what it saw'], shown));
}

function printHandlers(run: ProductRun): void {
  const rows = Object.entries(run.final.handlers)
    .sort((a, b) => b[1].totalMs - a[1].totalMs)
    .map(([kind, timing]) => [
      kind,
      int(timing.invocations),
      fixed(timing.totalMs / 1000, 1),
      int((timing.totalMs / 1000) * SCALE),
      int(timing.maxMs),
      int((timing.maxMs / 1000) * SCALE),
    ]);
  log(table(['handler', 'runs', 'busy real s', '= simulated s', 'longest real ms', '= simulated s'], rows));
}

function report(workload: Workload, floor: Floor, product: ProductRun, baseline: BaselineRun | undefined): void {
  const n = workload.devices.length;
  const productCounts = countRequests(product.requests);
  const baselineCounts = baseline ? countRequests(baseline.requests) : undefined;

  const registered = allReached(product, 'registered', n);
  const enrolled = allReached(product, 'enrolled', n);
  const received = allReached(product, 'received', n);
  const importing = allReached(product, 'importing', n);
  const profiled = allReached(product, 'profile-assigned', n);
  const autopilotLastEnrolled =
    product.autopilotEnrolledAt.length >= n ? (product.autopilotEnrolledAt[n - 1]! - product.t0) / 1000 : undefined;
  const at = (kind: string, pick: 'first' | 'last'): number | undefined => {
    const matching = product.requests.filter((entry) => kindOf(entry) === kind);
    const entry = pick === 'first' ? matching[0] : matching.at(-1);
    return entry ? (entry.simulatedAt - product.t0) / 1000 : undefined;
  };

  log('');
  log('== Floor (what the simulator alone imposes) ==');
  for (const line of floor.explanation) log(`  ${line}`);

  log('');
  log('== Product timeline (simulated seconds after the last file landed) ==');
  log(
    table(
      ['event', 'at'],
      [
        ['every device received (intake done)', seconds(received)],
        ['first import POST', seconds(at('import POST (batch)', 'first'))],
        ['last import POST', seconds(at('import POST (batch)', 'last'))],
        ['every device importing (claimed)', seconds(importing)],
        ['every device registered', seconds(registered)],
        ['every device profile-assigned', seconds(profiled)],
        ['Autopilot enrolled the last device (simulator)', seconds(autopilotLastEnrolled)],
        ['every device enrolled (product)', seconds(enrolled)],
        ['last import record deleted', seconds(at('DELETE import record', 'last'))],
      ],
    ),
  );
  log(`  import records left in the tenant at the end: ${int(product.importRecordsLeft)}${product.timedOut ? ' (run timed out)' : ''}`);
  log(
    `  devices failed ${int(product.final.firstReached.failed.length)}, stalled ${int(product.final.firstReached.stalled.length)}; handler invocations that threw ${int(product.final.failedInvocations)}`,
  );

  log('');
  log('== Graph requests by kind ==');
  printRequests(n, productCounts, baselineCounts);

  log('');
  log('== Product: where the requests went ==');
  const lastRequest = product.requests.at(-1)?.simulatedAt ?? product.t0;
  const registeredAt = registered === undefined ? lastRequest + 1 : product.t0 + registered * 1000;
  const enrolledAt = enrolled === undefined ? lastRequest + 1 : product.t0 + enrolled * 1000;
  const end = Math.max(lastRequest + 1, enrolledAt);
  printPhases(product, [
    { name: 'until every device registered', from: product.t0, to: registeredAt },
    { name: 'registered → every device enrolled', from: registeredAt, to: enrolledAt },
    { name: 'after every device enrolled', from: enrolledAt, to: end },
  ]);

  log('');
  log('== Product: handler time (real, and what it is worth on the simulated clock) ==');
  printHandlers(product);

  log(
    `  CPU over the run (${int(product.realSeconds)} s real): product ${int(product.final.cpuSeconds)} s, Azurite ${product.azuriteCpuSeconds === undefined ? '?' : int(product.azuriteCpuSeconds)} s, ` +
      `simulator and benchmark ${int(product.simulatorCpuSeconds)} s, on ${os.cpus().length} cores`,
  );

  log('');
  log('== Product: log events ==');
  const events = Object.entries(product.final.events).sort((a, b) => b[1] - a[1]);
  log(`  ${events.map(([name, count]) => `${name} ${int(count)}`).join(', ')}`);
  log(`  devices re-queued by the sweeper: ${int(product.final.requeuedDevices)}`);

  log('');
  log('== Product: polls ==');
  printPolls(product);

  const writesPerDevice = productCounts.writes / n;
  const projectedWrites = (productCounts.writes + product.importRecordsLeft) / n;
  const readsPerDevice = productCounts.reads / n;
  const registeredRatio = registered === undefined ? undefined : registered / floor.registeredSeconds;
  const enrolledRatio = enrolled === undefined ? undefined : enrolled / floor.enrolledSeconds;
  const b = baseline?.result;
  const bRegisteredRatio = b ? b.registeredSeconds / floor.registeredSeconds : undefined;

  log('');
  log(
    UNTIL_REGISTERED ? '== Summary (the product run stopped at registered: its request counts cover only that part) ==' : '== Summary ==',
  );
  log(
    table(
      ['measure', 'target', 'product', '', 'baseline'],
      [
        [
          'Graph writes per device (429s included)',
          `≤ ${TARGETS.writesPerDevice}`,
          fixed(writesPerDevice) + (product.importRecordsLeft > 0 ? ` (${fixed(projectedWrites)} with the clean-up left)` : ''),
          verdict(projectedWrites <= TARGETS.writesPerDevice),
          baselineCounts ? fixed(baselineCounts.writes / n) : '—',
        ],
        [
          'status reads per device',
          `≤ ${TARGETS.readsPerDevice}`,
          fixed(readsPerDevice),
          verdict(readsPerDevice <= TARGETS.readsPerDevice),
          baselineCounts ? fixed(baselineCounts.reads / n) : '—',
        ],
        [
          '429 responses',
          `${TARGETS.throttled}`,
          int(productCounts.throttled),
          verdict(productCounts.throttled <= TARGETS.throttled),
          baselineCounts ? int(baselineCounts.throttled) : '—',
        ],
        ['time to every device registered', '', seconds(registered), '', b ? seconds(b.registeredSeconds) : '—'],
        [
          `  ÷ floor ${int(floor.registeredSeconds)} s`,
          `≤ ${TARGETS.registeredRatio}`,
          ratio(registeredRatio),
          verdict(registeredRatio === undefined ? false : registeredRatio <= TARGETS.registeredRatio),
          ratio(bRegisteredRatio),
        ],
        ['time to every device enrolled', '', seconds(enrolled), '', 'not tracked'],
        [`  ÷ floor ${int(floor.enrolledSeconds)} s`, '', ratio(enrolledRatio), '', ''],
        ['peak RSS of the product process', '', `${int(product.final.peakRssMib)} MiB (${int(product.startRssMib)} at start)`, '', ''],
      ],
    ),
  );
  if (b) {
    log('');
    log(
      `Baseline: last POST at ${seconds(b.postedSeconds)}, every outcome known at ${seconds(b.registeredSeconds)} after ${b.listings} listings, ` +
        `records deleted by ${seconds(b.cleanedSeconds)}; outcomes ${JSON.stringify(b.outcomes)}; ${int(b.throttledRetries)} 429s waited out; ` +
        `${fixed(b.meanRequestSeconds, 3)} simulated s per request on average.`,
    );
  }
}

// ---- main ----------------------------------------------------------------------------

/** The commit measured, and any uncommitted product code (the figures are for that code). */
function codeVersion(): string {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8' }).trim();
    const dirty = git('status', '--porcelain', '--', 'functions', 'shared', 'local')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(3));
    return `${git('rev-parse', '--short', 'HEAD')}${dirty.length > 0 ? ` with uncommitted changes to ${dirty.join(', ')}` : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function printHeader(floor: Floor): void {
  const cpus = os.cpus();
  log('Pipeline benchmark');
  log(`  date      ${new Date().toISOString()}`);
  log(
    `  machine   ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} logical cores, ${fixed(os.totalmem() / 1024 ** 3, 1)} GiB RAM, ${os.platform()} ${os.release()}, load ${os
      .loadavg()
      .map((l) => fixed(l, 2))
      .join(' ')}`,
  );
  log(`  node      ${process.version}`);
  log(`  code      ${codeVersion()}`);
  log(`  workload  ${int(DEVICES)} devices in ${FILES} files of ${int(DEVICES / FILES)} rows, every row tagged MPS-STD or MPS-KIOSK`);
  log(`  clock     ${SCALE}× (simulator and ZTP_TIME_SCALE): 1 real ms = ${fixed(SCALE / 1000, 3)} simulated s`);
  log(
    `  Graph     simulator defaults: import ${String(DEFAULT_LATENCIES.importSeconds)} s, group ${String(DEFAULT_LATENCIES.groupMembershipSeconds)} s, profile ${String(DEFAULT_LATENCIES.profileAssignmentSeconds)} s, enrolment ${String(DEFAULT_LATENCIES.enrolmentSeconds)} s;`,
  );
  log(
    `            limits ${DEFAULT_THROTTLE.writesPer20s} writes / ${DEFAULT_THROTTLE.requestsPer20s} requests per ${DEFAULT_THROTTLE.windowSeconds} simulated s`,
  );
  if (UNTIL_REGISTERED) log('  stop      the product run ends when every device is registered');
  log(
    `  product   app settings at their defaults${
      Object.keys(OVERRIDES).length > 0
        ? ` except ${Object.entries(OVERRIDES)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : ''
    }`,
  );
  log(`  floor     registered ${int(floor.registeredSeconds)} s, enrolled ${int(floor.enrolledSeconds)} s (simulated)`);
  log('');
}

const workload = buildWorkload(FILES, DEVICES / FILES);
const floor = computeFloor({
  devices: workload.devices.length,
  // The simulator's defaults for maxImportBatchSize and maxPageSize.
  maxImportBatch: 500,
  maxPageSize: 1000,
  throttle: DEFAULT_THROTTLE,
  latencies: DEFAULT_LATENCIES,
});
printHeader(floor);

log('Product run');
const product = await runProduct(workload);
let baseline: BaselineRun | undefined;
if (!flags['skip-baseline']) {
  log('');
  log('Baseline run (Import-AutopilotCSV)');
  baseline = await runBaseline(workload);
}
report(workload, floor, product, baseline);
