import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import { createRuntime } from '../../shared/runtime.js';
import { ingestHashFile, type IntakeDeps, type IntakeResult } from '../../shared/services/intake/index.js';
import { currentRssMib, emitResult, MIB, peakRssMib } from './common.js';

/**
 * One `ingestHashFile` of a blob already in Azurite, in a process of its own, configured
 * from the environment exactly as the function app is. Azurite and the broker run in the
 * parent, so the peak RSS here is the intake's alone. The ports are wrapped to time the
 * phases of the run and count the storage calls.
 */

export interface OperationStats {
  calls: number;
  /** Summed over calls; calls overlap, so this exceeds the phase's wall time. */
  totalMs: number;
  firstStartMs: number | undefined;
  lastEndMs: number | undefined;
}

export interface E2eMeasurement {
  result: IntakeResult;
  wallMs: number;
  cpuMs: number;
  /** Milliseconds since the start of the ingest. */
  marks: {
    firstPassEnd: number | undefined;
    secondPassStart: number | undefined;
    queueingStart: number | undefined;
    queueingEnd: number | undefined;
  };
  operations: Record<string, OperationStats>;
  logLines: number;
  /** Largest value of each part of process.memoryUsage() seen while sampling (MiB). */
  memoryPeaksMib: Record<keyof NodeJS.MemoryUsage, number>;
  rssBeforeMib: number;
  peakRssMib: number;
}

const { values } = parseArgs({ options: { blob: { type: 'string' }, concurrency: { type: 'string' } } });
const blobName = values.blob ?? '';
const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);

let startedAt = 0;
const since = (): number => performance.now() - startedAt;
const operations: Record<string, OperationStats> = {};

function timed<A extends unknown[], R>(name: string, call: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  const stats: OperationStats = (operations[name] = { calls: 0, totalMs: 0, firstStartMs: undefined, lastEndMs: undefined });
  return async (...args: A): Promise<R> => {
    const start = since();
    stats.calls += 1;
    stats.firstStartMs ??= start;
    try {
      return await call(...args);
    } finally {
      stats.totalMs += since() - start;
      stats.lastEndMs = since();
    }
  };
}

function instrumented(deps: IntakeDeps): IntakeDeps {
  const { blobs, devices, batches, queue } = deps;
  return {
    ...deps,
    blobs: {
      info: timed('blobs.info', (container: string, name: string) => blobs.info(container, name)),
      openRead: timed('blobs.openRead', (container: string, name: string, etag?: string) => blobs.openRead(container, name, etag)),
      writeText: timed('blobs.writeText', (container: string, name: string, text: string, type?: string) =>
        blobs.writeText(container, name, text, type),
      ),
      readText: timed('blobs.readText', (container: string, name: string) => blobs.readText(container, name)),
    },
    devices: {
      get: timed('devices.get', devices.get.bind(devices)),
      create: timed('devices.create', devices.create.bind(devices)),
      save: timed('devices.save', devices.save.bind(devices)),
      // Only a repeat of a file reads devices back (its stalled ones); the bench uploads each file once.
      matching: devices.matching.bind(devices),
    },
    batches: {
      get: timed('batches.get', batches.get.bind(batches)),
      create: timed('batches.create', batches.create.bind(batches)),
      save: timed('batches.save', batches.save.bind(batches)),
    },
    queue: { send: timed('queue.send', queue.send.bind(queue)) },
  };
}

// Where the resident memory is (V8 heap or buffers outside it), sampled as the run goes.
const memoryPeaksMib: Record<keyof NodeJS.MemoryUsage, number> = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
function sampleMemory(): void {
  const usage = process.memoryUsage();
  for (const key of Object.keys(memoryPeaksMib) as (keyof NodeJS.MemoryUsage)[]) {
    memoryPeaksMib[key] = Math.max(memoryPeaksMib[key], usage[key] / MIB);
  }
}

// The function host writes every log line; counting them keeps that cost without the noise.
let logLines = 0;
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const byte of chunk) if (byte === 0x0a) logLines += 1;
    done();
  },
});

const config = loadConfig(process.env);
const runtime = await createRuntime(config, createLogger({ level: 'info' }, logSink));
try {
  const deps = instrumented({ ...runtime.intakeDeps(), ...(concurrency === undefined ? {} : { concurrency }) });
  const rssBeforeMib = currentRssMib();
  startedAt = performance.now();
  const cpuStart = process.cpuUsage();
  const sampler = setInterval(sampleMemory, 100);
  const result = await ingestHashFile(deps, blobName, 'bench').finally(() => clearInterval(sampler));
  const cpu = process.cpuUsage(cpuStart);
  sampleMemory();
  const wallMs = since();

  const measurement: E2eMeasurement = {
    result,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    marks: {
      // The first pass ends where the batch is looked up by its content hash.
      firstPassEnd: operations['batches.get']?.firstStartMs,
      secondPassStart: (operations['blobs.openRead']?.calls ?? 0) > 1 ? operations['blobs.openRead']?.lastEndMs : undefined,
      queueingStart: operations['queue.send']?.firstStartMs,
      queueingEnd: operations['queue.send']?.lastEndMs,
    },
    operations,
    logLines,
    memoryPeaksMib,
    rssBeforeMib,
    peakRssMib: peakRssMib(),
  };
  emitResult(measurement);
} finally {
  await runtime.close();
}
