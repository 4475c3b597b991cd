import { BatchRepository } from '../../shared/adapters/tables/batch-repository.js';
import { BatchDeviceRepository } from '../../shared/adapters/tables/batch-device-index.js';
import { DEVICE_STATES } from '../../shared/domain/lifecycle.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../shared/domain/blob-layout.js';
import { batchSummary, type BatchSummary } from '../../shared/services/status.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_INTERRUPTED, EXIT_NOT_FOUND, EXIT_OK, fields, printable, UsageError, type ZtpIo } from '../io.js';
import { connect, resolveStorage } from '../storage.js';
import { serialText, watchBatch } from './batch-watch.js';
import { describeReason } from './status.js';

/**
 * `ztp batch <batchId> [--json]`: one supplier file — the batch record, how many of its
 * devices are in each state now, and the devices that need attention with their reasons.
 * With `--watch`, the same live until the file is settled (see batch-watch.ts).
 * Exit 0, 1 for an unknown batch, 2 on errors, 130 when a watch is stopped with Ctrl-C.
 */

export const BATCH_USAGE = 'Usage: ztp batch <batchId> [--json]\n       ztp batch <batchId> --watch [--interval <seconds>]\n';

const DEFAULT_INTERVAL_SECONDS = 3;

function intervalMs(value: string | undefined): number {
  if (value === undefined) return DEFAULT_INTERVAL_SECONDS * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0.2 || seconds > 3600)
    throw new UsageError('--interval must be a number of seconds from 0.2 to 3600');
  return seconds * 1000;
}

/** Waits `ms`, or less when the signal aborts first. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function runBatch(argv: string[], io: ZtpIo): Promise<number> {
  return runCommand('batch', BATCH_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, {
      json: { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      interval: { type: 'string' },
    });
    if (wantsHelp(values, BATCH_USAGE, io)) return EXIT_OK;
    const batchId = onePositional(positionals, 'batch id');
    if (values.watch === true && values.json === true) throw new UsageError('--watch draws for people; use --json without it');
    if (values.interval !== undefined && values.watch !== true) throw new UsageError('--interval goes with --watch');
    const interval = intervalMs(values.interval);

    const storage = await resolveStorage(io);
    const batches = connect(storage, (connectionString) => BatchRepository.connect(connectionString, io.tables?.batches));
    const batchIndex = connect(storage, (connectionString) => BatchDeviceRepository.connect(connectionString, io.tables?.batchDevices));
    const load = () => batchSummary({ batches, batchIndex }, batchId);
    const summary = await load();
    if (summary === undefined) {
      io.stderr(`ztp batch: no batch "${printable(batchId)}" is known in ${storage.description}\n`);
      return EXIT_NOT_FOUND;
    }

    if (values.watch === true) {
      const stop = new AbortController();
      const release = io.onInterrupt?.(() => stop.abort()) ?? (() => undefined);
      try {
        const end = await watchBatch(load, {
          intervalMs: interval,
          tty: io.isTTY === true,
          now: io.now ?? (() => new Date()),
          sleep: io.sleep ?? abortableSleep,
          signal: stop.signal,
          write: io.stdout,
        });
        if (end === 'interrupted') return EXIT_INTERRUPTED;
        if (end === 'gone') {
          io.stderr(`ztp batch: batch "${printable(batchId)}" is no longer known\n`);
          return EXIT_NOT_FOUND;
        }
        return EXIT_OK;
      } finally {
        release();
      }
    }

    // The command's JSON names the list `problems`; the status API calls it `rejects`.
    if (values.json === true)
      io.stdout(`${JSON.stringify({ batch: summary.batch, devices: summary.devices, problems: summary.rejects }, null, 2)}\n`);
    else io.stdout(batchText(summary));
    return EXIT_OK;
  });
}

export function batchText({ batch, devices, rejects: problems }: BatchSummary): string {
  const show = (value: string | undefined): string | undefined => (value === undefined ? undefined : printable(value));
  const lines = [`Batch ${printable(batch.batchId)}: ${batch.status}`];
  const described = [batch.format, batch.encoding].filter((part): part is string => part !== undefined).map(printable);
  lines.push(
    ...fields([
      ['supplier', show(batch.supplierId)],
      [
        'file',
        `${printable(batch.fileName)} (${INTAKE_CONTAINER}/${printable(batch.blobName)}, ${batch.sizeBytes.toLocaleString('en-US')} bytes)`,
      ],
      ['format', described.length > 0 ? described.join(', ') : undefined],
      ['received', batch.receivedAt],
      ['completed', show(batch.completedAt)],
      ['settled', show(batch.settledAt)],
      ['counts', countsText(batch.counts)],
      [
        'file rejection',
        batch.fileRejection === undefined
          ? undefined
          : `${describeReason(batch.fileRejection.code)}: ${printable(batch.fileRejection.message)}`,
      ],
      ['report', batch.reportBlob === undefined ? undefined : `${RESULTS_CONTAINER}/${printable(batch.reportBlob)}`],
      ['correlation id', show(batch.correlationId || undefined)],
    ]),
  );

  lines.push(`Devices by current state (${devices.total}):`);
  const states = DEVICE_STATES.filter((state) => (devices.byState[state] ?? 0) > 0);
  const width = Math.max(0, ...states.map((state) => state.length));
  for (const state of states) lines.push(`  ${state.padEnd(width)}  ${devices.byState[state]}`);
  if (states.length === 0) lines.push('  (none)');

  if (problems.length > 0) {
    lines.push(`Rejected, failed or stalled devices (${problems.length}):`);
    for (const problem of problems) {
      const why = [problem.reasons.join(', '), problem.note].filter(Boolean).join(' - ');
      lines.push(printable(`  line ${problem.line}  ${serialText(problem.serialNumber)}  ${problem.state}${why ? `  ${why}` : ''}`));
    }
  }
  return `${lines.join('\n')}\n`;
}

function countsText(counts: Readonly<Record<string, number>>): string | undefined {
  const entries = Object.entries(counts);
  return entries.length === 0 ? undefined : entries.map(([name, count]) => `${printable(name)} ${count}`).join(', ');
}
