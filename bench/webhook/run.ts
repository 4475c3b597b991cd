import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { readStackEndpoints } from '../../cli/stack-endpoints.js';
import { startStack, type RunningStack } from '../../local/run-stack.js';
import type { ReprovisionAction } from '../../shared/domain/lifecycle.js';
import { signStandardWebhooks, signZtp, webhookKeys } from '../../shared/http/webhook-signature.js';
import { fixed, int, log, table } from '../pipeline/format.js';
import { codeVersion } from '../pipeline/header.js';
import { requestsPerAction, type DeviceIds } from './graph-requests.js';
import { readOptions } from './options.js';
import { ACTIONS, acceptsFor, ANSWER_KINDS, EXPECTED_STATUS, planRun, type PlannedRequest } from './plan.js';
import { latencyTable, summarise, type Sample } from './report.js';
import { seedEnrolledDevices } from './seed.js';

/**
 * The re-provisioning webhook's latency: the local stack (Azurite, the Service Bus test broker,
 * the Graph simulator and the dev host running every function, as `npm start` does) in this
 * process, enrolled devices seeded straight into the simulator and Table Storage, then signed
 * requests to POST /api/devices/{serial}/reprovision over HTTP — accepts, repeats (409), bad
 * signatures (401) and idempotent replays — one at a time, then several at once, each timed
 * from send to the last byte of the answer. GET /api/health (liveness: one table read shared
 * for a few seconds, so almost only the host's own work) and GET /api/devices/{serial} (two
 * Table reads) are timed the same way as the baseline. Once the accepted requests have taken effect: the Graph
 * requests each action cost, and peak RSS. See README.md, "bench/webhook".
 */

const options = readOptions();
const WARMUP = 10;
const BASELINE_REQUESTS = options.requests;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Measured {
  readonly request: PlannedRequest;
  readonly status: number;
  readonly ms: number;
  readonly body: Record<string, unknown> | undefined;
  /** Why the answer is not the one planned (status, or a replay that did not get the first answer). */
  readonly unexpected?: string;
}

const cpus = os.cpus();
log('Re-provisioning webhook benchmark');
log(`  date      ${new Date().toISOString()}`);
log(
  `  machine   ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} logical cores, ${fixed(os.totalmem() / 1024 ** 3, 1)} GiB RAM, ` +
    `${os.platform()} ${os.release()}, load ${os
      .loadavg()
      .map((l) => fixed(l, 2))
      .join(' ')}`,
);
log(`  node      ${process.version}`);
log(`  code      ${codeVersion()}`);
log(
  `  workload  ${options.requests} requests sequentially, then ${options.requests} with ${options.concurrency} in flight; ` +
    `in every 10: 7 accepts, 1 repeat (409), 1 bad signature (401), 1 replay`,
);
log(`  clock     ${options.scale}× (simulator and ZTP_TIME_SCALE); app settings at their defaults`);
log('');

const root = mkdtempSync(path.join(os.tmpdir(), 'ztp-bench-webhook-'));
const stack = await startStack({ root, env: { ZTP_API_PORT: '0', ZTP_TIME_SCALE: String(options.scale), LOG_LEVEL: 'info' } });
let exitCode = 0;
try {
  exitCode = await benchmark(stack);
} finally {
  await stack.stop();
  rmSync(root, { recursive: true, force: true });
}
process.exit(exitCode);

async function benchmark(stack: RunningStack): Promise<number> {
  const sim = stack.simulator!;
  const api = stack.apiBaseUrl;
  // Signed as `ztp reprovision` signs for the local stack: with the secret it publishes.
  const secret = (await readStackEndpoints(stack.endpointsFile)).webhookSecret;
  if (secret === undefined) throw new Error(`${stack.endpointsFile} publishes no webhook secret`);
  const key = webhookKeys(secret)[0]!;
  const wrongKey = randomBytes(32);

  const perRun = acceptsFor(options.requests);
  const name = (prefix: string, count: number): string[] =>
    Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(4, '0')}`);
  const warmupSerials = name('WHW', WARMUP);
  const sequentialSerials = name('WHS', perRun);
  const concurrentSerials = name('WHC', perRun);
  const seedStarted = performance.now();
  const seeded = await seedEnrolledDevices(sim, stack.runtime.devices, [...warmupSerials, ...sequentialSerials, ...concurrentSerials]);
  log(
    `seeded ${seeded.length} enrolled devices (simulator + records, 5 Table writes each) in ${fixed((performance.now() - seedStarted) / 1000, 1)} s`,
  );
  sim.resetRequestLog();

  const send = async (request: PlannedRequest): Promise<{ status: number; ms: number; text: string }> => {
    const bytes = Buffer.from(JSON.stringify(request.body), 'utf8');
    const timestamp = Math.floor(Date.now() / 1000);
    const signingKey = request.wrongKey ? wrongKey : key;
    const signature =
      request.scheme === 'ztp'
        ? signZtp(signingKey, bytes, timestamp)
        : signStandardWebhooks(signingKey, request.idempotencyKey, bytes, timestamp);
    const headers = { 'Content-Type': 'application/json', 'Idempotency-Key': request.idempotencyKey, ...signature };
    const url = `${api}/devices/${encodeURIComponent(request.serial)}/reprovision`;
    const started = performance.now();
    const response = await fetch(url, { method: 'POST', headers, body: bytes });
    const text = await response.text();
    return { status: response.status, ms: performance.now() - started, text };
  };

  /** Sends the plan with `concurrency` requests in flight; a repeat or replay waits for the answer it depends on (not timed). */
  const runPlan = async (plan: readonly PlannedRequest[], concurrency: number): Promise<{ measured: Measured[]; seconds: number }> => {
    const answers = new Map<number, { promise: Promise<Measured>; resolve: (m: Measured) => void }>();
    for (const request of plan) {
      let resolve!: (m: Measured) => void;
      const promise = new Promise<Measured>((r) => (resolve = r));
      answers.set(request.index, { promise, resolve });
    }
    const measured: Measured[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < plan.length; i = next++) {
        const request = plan[i]!;
        const first = request.after === undefined ? undefined : await answers.get(request.after)!.promise;
        const { status, ms, text } = await send(request);
        const body = parseJson(text);
        let unexpected: string | undefined;
        if (status !== EXPECTED_STATUS[request.kind]) unexpected = `${status} ${text.slice(0, 200)}`;
        else if (request.kind === 'replay' && body?.requestId !== first?.body?.requestId) unexpected = 'a replay with another request id';
        const result: Measured = { request, status, ms, body, ...(unexpected ? { unexpected } : {}) };
        measured.push(result);
        answers.get(request.index)!.resolve(result);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { measured, seconds: (performance.now() - started) / 1000 };
  };

  const timeGets = async (urls: readonly string[], concurrency: number, kind: string): Promise<Sample[]> => {
    const samples: Sample[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < urls.length; i = next++) {
        const started = performance.now();
        const response = await fetch(urls[i]!);
        await response.text();
        if (response.status !== 200) throw new Error(`baseline: GET ${urls[i]} answered ${response.status}`);
        samples.push({ kind, ms: performance.now() - started });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return samples;
  };
  const healthUrls = Array.from({ length: BASELINE_REQUESTS }, () => `${api}/health`);
  const deviceUrls = Array.from(
    { length: BASELINE_REQUESTS },
    (_, i) => `${api}/devices/${encodeURIComponent(seeded[i % seeded.length]!.serial)}`,
  );

  // Warm-up (not counted in the latencies): both GET routes, and the webhook's accept and refusal paths.
  await timeGets(healthUrls.slice(0, WARMUP), 1, 'health');
  await timeGets(deviceUrls.slice(0, WARMUP), 1, 'device');
  const warmup = planRun(warmupSerials, WARMUP).filter((request) => request.kind === 'accept' || request.kind === 'bad-signature');
  const warmupRun = await runPlan(warmup, 1);

  const baseline = {
    sequential: [...(await timeGets(healthUrls, 1, 'health')), ...(await timeGets(deviceUrls, 1, 'device'))],
    concurrent: [
      ...(await timeGets(healthUrls, options.concurrency, 'health')),
      ...(await timeGets(deviceUrls, options.concurrency, 'device')),
    ],
  };

  const accepted: Measured[] = warmupRun.measured.filter((m) => m.request.kind === 'accept');
  log(`sequential run: ${options.requests} requests, one at a time`);
  const sequential = await runPlan(planRun(sequentialSerials, options.requests), 1);
  accepted.push(...sequential.measured.filter((m) => m.request.kind === 'accept'));
  const sequentialSettle = await settle(stack, accepted);
  log(`  sent in ${fixed(sequential.seconds, 1)} s; every accepted request took effect ${fixed(sequentialSettle, 1)} s later`);

  log(`concurrent run: ${options.requests} requests, ${options.concurrency} in flight`);
  const concurrent = await runPlan(planRun(concurrentSerials, options.requests), options.concurrency);
  accepted.push(...concurrent.measured.filter((m) => m.request.kind === 'accept'));
  const concurrentSettle = await settle(stack, accepted);
  log(`  sent in ${fixed(concurrent.seconds, 1)} s; every accepted request took effect ${fixed(concurrentSettle, 1)} s later`);
  const peakRssMib = process.resourceUsage().maxRSS / 1024;
  const azuriteRssMib = stack.infrastructure ? peakRssOf(stack.infrastructure.azurite.pid) : undefined;

  // ---- Report ----
  const labels: Record<string, string> = {
    accept: 'accept (202)',
    repeat: 'repeat (409)',
    'bad-signature': 'bad signature (401)',
    replay: 'replay (202, first answer)',
    health: 'GET /api/health',
    device: 'GET /api/devices/{serial}',
  };
  const samplesOf = (run: { measured: Measured[] }): Sample[] => run.measured.map((m) => ({ kind: m.request.kind, ms: m.ms }));
  for (const [title, run, base] of [
    [`Sequential (one request at a time), ${fixed(options.requests / sequential.seconds, 0)} requests/s`, sequential, baseline.sequential],
    [
      `Concurrent (${options.concurrency} in flight), ${fixed(options.requests / concurrent.seconds, 0)} requests/s`,
      concurrent,
      baseline.concurrent,
    ],
  ] as const) {
    log('');
    log(title);
    log(latencyTable(samplesOf(run), ANSWER_KINDS, labels));
    log('baseline, same client, same concurrency, before the webhook runs:');
    log(latencyTable(base, ['health', 'device'], labels));
  }

  const unexpected = [...warmupRun.measured, ...sequential.measured, ...concurrent.measured].filter((m) => m.unexpected !== undefined);
  log('');
  log(
    `Answers: ${[...sequential.measured, ...concurrent.measured].length} measured, ${unexpected.length} not as planned` +
      (unexpected.length > 0
        ? `:\n${unexpected.map((m) => `  #${m.request.index} ${m.request.kind} ${m.request.serial}: ${m.unexpected}`).join('\n')}`
        : ''),
  );

  // Outcomes of the accepted requests and the Graph requests they cost.
  const actionOf = new Map<string, ReprovisionAction>(accepted.map((m) => [m.request.serial, m.request.body.action]));
  const outcomes = new Map<ReprovisionAction, { requests: number; done: number; other: string[]; effectMs: number[] }>();
  const ids: DeviceIds[] = [];
  const managedNow = sim.managedDevices();
  for (const device of seeded) {
    ids.push({
      serial: device.serial,
      autopilotId: device.autopilotId,
      managedDeviceIds: [device.managedDeviceId, ...managedNow.filter((m) => m.serialNumber === device.serial).map((m) => m.id)],
    });
  }
  for (const m of accepted) {
    const action = m.request.body.action;
    const entry = outcomes.get(action) ?? { requests: 0, done: 0, other: [], effectMs: [] };
    entry.requests += 1;
    const record = (await stack.runtime.devices.get(m.request.serial))?.value;
    const request = record?.reprovision;
    if (request?.stage === 'done') {
      entry.done += 1;
      entry.effectMs.push(Date.parse(record!.updatedAt) - Date.parse(request.requestedAt));
    } else entry.other.push(`${m.request.serial} ${record?.state} ${request?.stage ?? ''} ${request?.failure ?? ''}`.trim());
    outcomes.set(action, entry);
  }
  const graph = requestsPerAction(sim.requestLog(), ids, actionOf);
  log('');
  log(`Graph requests per accepted request, by action (the simulator's request log, ${int(sim.stats().total)} requests in all):`);
  const rows: string[][] = [];
  for (const action of ACTIONS) {
    const outcome = outcomes.get(action);
    const counts = graph.perAction.get(action);
    if (!outcome) continue;
    const routes = [...(counts?.byRoute ?? new Map<string, number>())].sort(([a], [b]) => a.localeCompare(b));
    const effect = summarise(outcome.effectMs.map((value) => value / 1000));
    routes.forEach(([route, count], i) => {
      rows.push([
        i === 0 ? action : '',
        i === 0 ? int(outcome.requests) : '',
        i === 0 ? `${outcome.done}/${outcome.requests}` : '',
        i === 0 ? `${fixed(effect.p50, 1)} / ${fixed(effect.max, 1)} s` : '',
        route,
        int(count),
        fixed(count / outcome.requests, 2),
      ]);
    });
    for (const other of outcome.other.slice(0, 5)) rows.push(['', '', '', '', `not done: ${other}`, '', '']);
  }
  log(table(['action', 'requests', 'done', 'to effect p50/max (real)', 'Graph route', 'total', 'per request'], rows));
  const throttled = [...graph.perAction.values()].reduce((sum, counts) => sum + counts.throttled, 0);
  log(
    `429s among them: ${throttled}. Not tied to a request: ${[...graph.other].map(([route, n]) => `${route} ${n}`).join(', ') || 'none'}.`,
  );

  const events = eventCounts(stack.logFile);
  log('');
  log(
    `Product log: ${[
      'reprovision.accepted',
      'reprovision.refused',
      'reprovision.replayed',
      'reprovision.action-sent',
      'reprovision.completed',
      'reprovision.failed',
      'reprovision.stalled',
      'pipeline.reprovision-poll',
    ]
      .map((event) => `${event} ${int(events.get(event) ?? 0)}`)
      .join(', ')}`,
  );
  log(
    `Peak RSS: ${int(peakRssMib)} MiB for this process (app runtime, dev host, Service Bus broker, Graph simulator and the client)` +
      `${azuriteRssMib === undefined ? '' : `; Azurite ${int(azuriteRssMib)} MiB`}`,
  );
  const done = [...outcomes.values()].every((outcome) => outcome.done === outcome.requests);
  return unexpected.length === 0 && done ? 0 : 1;
}

/** Waits until no accepted request is open (the device left `reprovisioning`); the real seconds it took. */
async function settle(stack: RunningStack, accepted: readonly Measured[]): Promise<number> {
  const started = performance.now();
  const serials = new Set(accepted.map((m) => m.request.serial.toUpperCase()));
  for (;;) {
    let open = 0;
    for await (const device of stack.runtime.devices.matching([{ state: 'reprovisioning' }]))
      if (serials.has(device.value.serialNumber.toUpperCase())) open++;
    if (open === 0) return (performance.now() - started) / 1000;
    if (performance.now() - started > options.settleTimeoutMs) {
      log(`  ${open} accepted requests still open after ${options.settleTimeoutMs / 1000} s`);
      return (performance.now() - started) / 1000;
    }
    await sleep(500);
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** How many lines of each event the product logged (its JSON log). */
function eventCounts(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const event = /"event":"([^"]+)"/.exec(line)?.[1];
    if (event !== undefined) counts.set(event, (counts.get(event) ?? 0) + 1);
  }
  return counts;
}

/** VmHWM of another process (Linux), in MiB. */
function peakRssOf(pid: number): number | undefined {
  try {
    const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) / 1024;
  } catch {
    return undefined;
  }
}
