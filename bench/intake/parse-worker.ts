import { parseArgs } from 'node:util';
import { sampleHashFileChunks } from '../../local/sample-data.js';
import { validateHashFile, type HashFileEncoding } from '../../shared/domain/hash-file/index.js';
import { BENCH_MAX_FILE_BYTES, BENCH_SUPPLIER, benchFileOptions, currentRssMib, emitResult, peakRssMib } from './common.js';

/**
 * One parse + validate measurement in a process of its own, over bytes made in memory:
 * - `buffered`: the whole file is generated first, then only the validator is timed.
 * - `streamed`: the validator pulls the file from the generator chunk by chunk, so the
 *   file never sits in memory and the peak RSS is the parser's; the generator's time is
 *   measured around each pull and taken out of the figures.
 * - `generate-only`: the streamed generator without the validator: the baseline the
 *   streamed peak RSS is compared with.
 */

export type ParseMode = 'buffered' | 'streamed' | 'generate-only';

export interface ParseMeasurement {
  rows: number;
  encoding: HashFileEncoding;
  mode: ParseMode;
  bytes: number;
  /** Validator time only (generator excluded). */
  wallMs: number;
  cpuMs: number;
  accepted: number;
  rejected: number;
  rssBeforeMib: number;
  peakRssMib: number;
}

const { values } = parseArgs({
  options: { rows: { type: 'string' }, encoding: { type: 'string' }, mode: { type: 'string' } },
});
const rows = Number(values.rows);
const encoding = values.encoding as HashFileEncoding;
const mode = values.mode as ParseMode;
const file = benchFileOptions(rows);

const cpuMs = (usage: NodeJS.CpuUsage): number => (usage.user + usage.system) / 1000;

/** Wall and CPU time spent inside the generator, to be subtracted. */
const generator = { wallMs: 0, cpuMs: 0, bytes: 0 };

async function* timedChunks(): AsyncGenerator<Uint8Array, void, undefined> {
  const chunks = sampleHashFileChunks(file, encoding);
  for (;;) {
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    const next = chunks.next();
    generator.cpuMs += cpuMs(process.cpuUsage(cpuStart));
    generator.wallMs += performance.now() - wallStart;
    if (next.done) return;
    generator.bytes += next.value.length;
    yield next.value;
  }
}

async function* fromMemory(chunks: readonly Buffer[]): AsyncGenerator<Uint8Array, void, undefined> {
  for (const chunk of chunks) yield chunk;
}

async function measure(): Promise<ParseMeasurement> {
  let source: AsyncIterable<Uint8Array> | undefined;
  let bytes = 0;
  if (mode === 'buffered') {
    const chunks = [...sampleHashFileChunks(file, encoding)];
    bytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    source = fromMemory(chunks);
  } else {
    source = timedChunks();
  }
  const rssBeforeMib = currentRssMib();

  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  let accepted = 0;
  let rejected = 0;
  if (mode === 'generate-only') {
    for await (const chunk of source) void chunk;
  } else {
    const validation = validateHashFile(source, { supplier: BENCH_SUPPLIER, maxBytes: BENCH_MAX_FILE_BYTES, maxRows: rows });
    for await (const row of validation.rows) {
      if (row.status === 'accepted') accepted += 1;
      else rejected += 1;
    }
    const outcome = await validation.outcome;
    if (outcome.rejected || outcome.counts.total !== rows) {
      throw new Error(`The bench file did not validate as expected: ${JSON.stringify(outcome)}`);
    }
  }
  const cpu = cpuMs(process.cpuUsage(cpuStart));
  const wall = performance.now() - wallStart;

  return {
    rows,
    encoding,
    mode,
    bytes: mode === 'buffered' ? bytes : generator.bytes,
    wallMs: mode === 'streamed' ? wall - generator.wallMs : wall,
    cpuMs: mode === 'streamed' ? cpu - generator.cpuMs : cpu,
    accepted,
    rejected,
    rssBeforeMib,
    peakRssMib: peakRssMib(),
  };
}

emitResult(await measure());
