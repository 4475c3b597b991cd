import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { startAzurite, type AzuriteInstance } from '../../local/azurite.js';
import { sampleHashFileChunks } from '../../local/sample-data.js';
import { startServiceBusBroker, type ServiceBusBroker } from '../../local/servicebus-broker/index.js';
import { QUEUES } from '../../shared/messages/index.js';
import type { HashFileEncoding } from '../../shared/domain/hash-file/index.js';
import { INTAKE_CONTAINER } from '../../shared/domain/blob-layout.js';
import { BENCH_MAX_FILE_BYTES, BENCH_SUPPLIER, benchFileOptions, benchQueueOptions, MIB } from './common.js';
import { processCpuSeconds } from '../process-cpu.js';
import { buildWorkers, canPinToOneCore, runWorker } from './workers.js';
import type { E2eMeasurement } from './e2e-worker.js';
import type { ParseMeasurement, ParseMode } from './parse-worker.js';

/**
 * The intake benchmark: parse + validate alone (in memory, one core), then the whole intake
 * against Azurite and the Service Bus test broker. Every measurement runs in a child
 * process of its own so that peak RSS is that measurement's. `--full` adds the
 * 50,000-row end-to-end run (a few minutes, most of it Azurite).
 */

const TARGET_PARSE_ROWS_PER_SECOND = 20_000;
const TARGET_PEAK_RSS_MIB = 250;

const { values: flags } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    /** Only one half: 'parse' or 'e2e'. */
    only: { type: 'string' },
    /** Write a CPU profile of each end-to-end intake process into this folder. */
    'cpu-prof-dir': { type: 'string' },
    /** Extra Node options for the end-to-end intake processes, e.g. "--max-old-space-size=96". */
    'node-options': { type: 'string' },
    /** Runs of each parse measurement; the best counts. */
    repeat: { type: 'string', default: '3' },
    /** Rows the intake records at once (its default is 16). */
    concurrency: { type: 'string' },
  },
});
const repeat = Math.max(1, Number(flags.repeat) || 1);
const intakeNodeOptions = [
  ...(flags['cpu-prof-dir'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(flags['cpu-prof-dir'])] : []),
  ...(flags['node-options']?.split(/\s+/).filter(Boolean) ?? []),
];

const rate = (rows: number, ms: number): number => rows / (ms / 1000);
const int = (value: number): string => Math.round(value).toLocaleString('en-GB');
const fixed = (value: number, digits = 1): string => value.toFixed(digits);
const verdict = (pass: boolean): string => (pass ? 'PASS' : 'FAIL');

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

function printMachine(): void {
  const cpus = os.cpus();
  console.log('Intake benchmark');
  console.log(`  date     ${new Date().toISOString()}`);
  console.log(
    `  machine  ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} logical cores, ${fixed(os.totalmem() / 1024 ** 3)} GiB RAM, ${os.platform()} ${os.release()}`,
  );
  console.log(`  node     ${process.version}`);
  console.log(
    `  load     ${os
      .loadavg()
      .map((load) => fixed(load, 2))
      .join(' ')} (1/5/15 min) at start: other work on the machine slows the end-to-end figures`,
  );
  console.log(
    `  parse    ${canPinToOneCore() ? 'pinned to CPU 0 with taskset (one core, GC threads included)' : 'not pinned (taskset unavailable): wall-clock figures may use more than one core'}`,
  );
  console.log('');
}

// ---- parse + validate alone ----------------------------------------------------------

interface ParseCase {
  rows: number;
  encoding: HashFileEncoding;
  /** Best wall time and best CPU time of the repeated runs: other work on the machine only ever slows a run down. */
  buffered: ParseMeasurement;
  streamed: ParseMeasurement;
  generatorOnly: ParseMeasurement;
}

async function parseCase(rows: number, encoding: HashFileEncoding, repeat: number): Promise<ParseCase> {
  const run = (mode: ParseMode): Promise<ParseMeasurement> =>
    runWorker<ParseMeasurement>('parse-worker', {
      args: ['--rows', String(rows), '--encoding', encoding, '--mode', mode],
      pinToOneCore: true,
    });
  const runs: ParseMeasurement[] = [];
  for (let i = 0; i < repeat; i++) runs.push(await run('buffered'));
  const buffered = { ...runs[0]!, wallMs: Math.min(...runs.map((r) => r.wallMs)), cpuMs: Math.min(...runs.map((r) => r.cpuMs)) };
  return { rows, encoding, buffered, streamed: await run('streamed'), generatorOnly: await run('generate-only') };
}

async function parseBenchmark(): Promise<ParseCase[]> {
  console.log(`Parse + validate alone (decode, split, validate rows, decode hashes; in memory, no I/O; best of ${repeat} runs)…`);
  const cases: ParseCase[] = [];
  for (const rows of [10_000, 50_000]) {
    for (const encoding of ['utf-8', 'utf-16le'] as const) cases.push(await parseCase(rows, encoding, repeat));
  }
  console.log(
    table(
      ['file', 'MiB', 'ms', 'rows/s wall', 'rows/s CPU', 'MiB/s', 'rows/s streamed', 'peak RSS streamed', 'generator alone'],
      cases.map((c) => [
        `${int(c.rows)} rows ${c.encoding}`,
        fixed(c.buffered.bytes / MIB),
        int(c.buffered.wallMs),
        int(rate(c.rows, c.buffered.wallMs)),
        int(rate(c.rows, c.buffered.cpuMs)),
        int(c.buffered.bytes / MIB / (c.buffered.wallMs / 1000)),
        int(rate(c.rows, c.streamed.wallMs)),
        `${int(c.streamed.peakRssMib)} MiB`,
        `${int(c.generatorOnly.peakRssMib)} MiB`,
      ]),
    ),
  );
  const sample = cases[0]!.buffered;
  console.log(
    `  (${int(sample.accepted)} accepted, ${int(sample.rejected)} rejected per 10,000 rows; process RSS before parsing ~${int(cases[0]!.streamed.rssBeforeMib)} MiB)\n`,
  );
  return cases;
}

// ---- end to end ------------------------------------------------------------------------

interface StoredCounts {
  devices: number;
  received: number;
  rejected: number;
  events: number;
  importMessages: number;
  followupMessages: number;
}

interface E2eCase {
  rows: number;
  /** CPU seconds Azurite spent during the first ingest, when the platform tells. */
  azuriteCpuMs: number | undefined;
  bytes: number;
  uploadMs: number;
  first: E2eMeasurement;
  afterFirst: StoredCounts;
  again: E2eMeasurement;
  afterAgain: StoredCounts;
}

async function storedCounts(azurite: AzuriteInstance, broker: ServiceBusBroker): Promise<StoredCounts> {
  const devices = TableClient.fromConnectionString(azurite.connectionString, 'devices', { allowInsecureConnection: true });
  const counts: StoredCounts = { devices: 0, received: 0, rejected: 0, events: 0, importMessages: 0, followupMessages: 0 };
  for await (const entity of devices.listEntities<{ state?: string }>({ queryOptions: { select: ['RowKey', 'state'] } })) {
    if (entity.rowKey === 'device') {
      counts.devices += 1;
      if (entity.state === 'received') counts.received += 1;
      if (entity.state === 'rejected') counts.rejected += 1;
    } else counts.events += 1;
  }
  counts.importMessages = broker.stats(QUEUES.import).active;
  counts.followupMessages = broker.stats(QUEUES.followup).active;
  return counts;
}

async function upload(
  azurite: AzuriteInstance,
  blobName: string,
  rows: number,
  encoding: HashFileEncoding,
): Promise<{ bytes: number; ms: number }> {
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(INTAKE_CONTAINER);
  await container.createIfNotExists();
  let bytes = 0;
  const chunks = (function* () {
    for (const chunk of sampleHashFileChunks(benchFileOptions(rows), encoding)) {
      bytes += chunk.length;
      yield chunk;
    }
  })();
  const start = performance.now();
  await container.getBlockBlobClient(blobName).uploadStream(Readable.from(chunks), 8 * MIB, 4);
  return { bytes, ms: performance.now() - start };
}

async function e2eCase(rows: number): Promise<E2eCase> {
  const azurite = await startAzurite();
  let broker: ServiceBusBroker | undefined;
  try {
    broker = await startServiceBusBroker({ queues: benchQueueOptions() });
    const env = {
      AzureWebJobsStorage: azurite.connectionString,
      ServiceBusConnection: broker.connectionString,
      REPROVISION_WEBHOOK_SECRET: 'bench-secret-not-used-here',
      ZTP_SUPPLIERS: JSON.stringify([BENCH_SUPPLIER]),
      ZTP_MAX_FILE_BYTES: String(BENCH_MAX_FILE_BYTES),
      ZTP_MAX_ROWS: '100000',
      LOG_LEVEL: 'info',
    };
    const blobName = `${BENCH_SUPPLIER.id}/bench-${rows}.csv`;
    const uploaded = await upload(azurite, blobName, rows, 'utf-8');
    const ingest = (): Promise<E2eMeasurement> =>
      runWorker<E2eMeasurement>('e2e-worker', {
        args: ['--blob', blobName, ...(flags.concurrency ? ['--concurrency', flags.concurrency] : [])],
        env,
        timeoutMs: 30 * 60_000,
        nodeOptions: intakeNodeOptions,
      });
    const azuriteCpuBefore = processCpuSeconds(azurite.pid);
    const first = await ingest();
    const azuriteCpuAfter = processCpuSeconds(azurite.pid);
    const azuriteCpuMs =
      azuriteCpuBefore !== undefined && azuriteCpuAfter !== undefined ? (azuriteCpuAfter - azuriteCpuBefore) * 1000 : undefined;
    const afterFirst = await storedCounts(azurite, broker);
    const again = await ingest();
    const afterAgain = await storedCounts(azurite, broker);
    return { rows, azuriteCpuMs, bytes: uploaded.bytes, uploadMs: uploaded.ms, first, afterFirst, again, afterAgain };
  } finally {
    await broker?.stop();
    await azurite.stop();
  }
}

function phases(m: E2eMeasurement): [string, number][] {
  const { firstPassEnd, secondPassStart, queueingStart, queueingEnd } = m.marks;
  if (firstPassEnd === undefined || secondPassStart === undefined || queueingStart === undefined || queueingEnd === undefined)
    return [['total', m.wallMs]];
  return [
    ['first pass: download + hash + parse + validate', firstPassEnd],
    ['batch record', secondPassStart - firstPassEnd],
    ['second pass: download + parse + validate + record devices', queueingStart - secondPassStart],
    ['queueing (Service Bus)', queueingEnd - queueingStart],
    ['report + batch save', m.wallMs - queueingEnd],
  ];
}

function printE2e(c: E2eCase): void {
  const m = c.first;
  console.log(
    `End to end, ${int(c.rows)} rows (UTF-8, ${fixed(c.bytes / MIB)} MiB; upload to Azurite ${fixed(c.uploadMs / 1000)} s, not counted):`,
  );
  console.log(`  status ${m.result.status}, counts ${JSON.stringify(m.result.counts)}`);
  console.log(
    `  total ${fixed(m.wallMs / 1000, 2)} s = ${int(rate(c.rows, m.wallMs))} rows/s; intake process CPU ${fixed(m.cpuMs / 1000, 2)} s (${int((100 * m.cpuMs) / m.wallMs)}% of one core)`,
  );
  if (c.azuriteCpuMs !== undefined)
    console.log(
      `  Azurite (another process) CPU meanwhile ${fixed(c.azuriteCpuMs / 1000, 2)} s (${int((100 * c.azuriteCpuMs) / m.wallMs)}% of one core)`,
    );
  console.log(
    table(
      ['phase', 's', 'share'],
      phases(m).map(([name, ms]) => [name, fixed(ms / 1000, 2), `${int((100 * ms) / m.wallMs)}%`]),
    ),
  );
  const op = (name: string): string => {
    const stats = m.operations[name];
    return stats && stats.calls > 0 ? `${int(stats.calls)} calls, mean ${fixed(stats.totalMs / stats.calls, 2)} ms` : '0 calls';
  };
  console.log(
    `  devices.get ${op('devices.get')}; devices.create ${op('devices.create')}; devices.save ${op('devices.save')}; queue.send ${op('queue.send')}`,
  );
  const s = c.afterFirst;
  console.log(
    `  stored: ${int(s.devices)} device records (${int(s.received)} received, ${int(s.rejected)} rejected), ${int(s.events)} history events; broker: ${int(s.importMessages)} import messages, ${int(s.followupMessages)} follow-up messages; ${int(m.logLines)} log lines`,
  );
  const peaks = m.memoryPeaksMib;
  console.log(
    `  peak RSS of the intake process ${int(m.peakRssMib)} MiB (${int(m.rssBeforeMib)} MiB before the ingest; ` +
      `sampled peaks: V8 heap ${int(peaks.heapUsed)} used / ${int(peaks.heapTotal)} reserved, buffers ${int(peaks.arrayBuffers)}, external ${int(peaks.external)} MiB)`,
  );
  const unchanged = JSON.stringify(c.afterAgain) === JSON.stringify(c.afterFirst);
  console.log(
    `  same file again: ${c.again.result.status} in ${fixed(c.again.wallMs / 1000, 2)} s (a first pass only); ` +
      `tables and queues ${unchanged ? 'unchanged' : `CHANGED: ${JSON.stringify(c.afterAgain)}`}; peak RSS ${int(c.again.peakRssMib)} MiB\n`,
  );
}

// ---- main --------------------------------------------------------------------------------

printMachine();
await buildWorkers();
const parse = flags.only === 'e2e' ? [] : await parseBenchmark();

const e2eRows = flags.only === 'parse' ? [] : flags.full ? [10_000, 50_000] : [10_000];
const e2e: E2eCase[] = [];
for (const rows of e2eRows) {
  console.log(`End to end, ${int(rows)} rows: uploading and ingesting…`);
  const result = await e2eCase(rows);
  printE2e(result);
  e2e.push(result);
}
if (!flags.full && flags.only !== 'parse')
  console.log('(The 50,000-row end-to-end run takes a few minutes, mostly Azurite: run with --full to include it.)\n');

const summary: string[][] = [];
if (parse.length > 0) {
  const slowestCpu = Math.min(...parse.map((c) => rate(c.rows, c.buffered.cpuMs)));
  const slowestWall = Math.min(...parse.map((c) => rate(c.rows, c.buffered.wallMs)));
  // Pinned to one CPU, the process's CPU time is one core's time, whatever else runs on that core.
  const pinned = canPinToOneCore();
  const judged = pinned ? slowestCpu : slowestWall;
  const parseRss50k = Math.max(...parse.filter((c) => c.rows === 50_000).map((c) => c.streamed.peakRssMib));
  summary.push(
    [
      `parse + validate, slowest file (${pinned ? 'rows per CPU second, one core' : 'wall clock, not pinned'})`,
      `${int(judged)} rows/s`,
      `>= ${int(TARGET_PARSE_ROWS_PER_SECOND)} rows/s`,
      verdict(judged >= TARGET_PARSE_ROWS_PER_SECOND),
    ],
    ...(pinned
      ? [['parse + validate, slowest file (wall clock, one core)', `${int(slowestWall)} rows/s`, '(other load on CPU 0 lowers it)', '']]
      : []),
    [
      'peak RSS, parse + validate 50,000 rows (worst encoding)',
      `${int(parseRss50k)} MiB`,
      `< ${TARGET_PEAK_RSS_MIB} MiB`,
      verdict(parseRss50k < TARGET_PEAK_RSS_MIB),
    ],
  );
}
for (const c of e2e) {
  summary.push([`end to end ${int(c.rows)} rows`, `${int(rate(c.rows, c.first.wallMs))} rows/s`, '(no target)', '']);
  summary.push([
    `peak RSS, intake end to end ${int(c.rows)} rows`,
    `${int(c.first.peakRssMib)} MiB`,
    `< ${TARGET_PEAK_RSS_MIB} MiB`,
    verdict(c.first.peakRssMib < TARGET_PEAK_RSS_MIB),
  ]);
}
if (flags.only !== 'parse' && !flags.full)
  summary.push(['peak RSS, intake end to end 50,000 rows', 'not run', `< ${TARGET_PEAK_RSS_MIB} MiB`, 'run with --full']);
console.log('Summary');
console.log(table(['figure', 'measured', 'target', ''], summary));
