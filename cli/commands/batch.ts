import { BatchRepository } from '../../shared/adapters/tables/batch-repository.js';
import { BatchDeviceRepository } from '../../shared/adapters/tables/batch-device-index.js';
import { DEVICE_STATES } from '../../shared/domain/lifecycle.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../shared/domain/blob-layout.js';
import { batchSummary, type BatchSummary } from '../../shared/services/status.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_NOT_FOUND, EXIT_OK, fields, printable, type ZtpIo } from '../io.js';
import { connect, resolveStorage } from '../storage.js';
import { describeReason } from './status.js';

/**
 * `ztp batch <batchId> [--json]`: one supplier file — the batch record, how many of its
 * devices are in each state now, and the devices that need attention with their reasons.
 * Exit 0, 1 for an unknown batch, 2 on errors.
 */

export const BATCH_USAGE = 'Usage: ztp batch <batchId> [--json]\n';

export async function runBatch(argv: string[], io: ZtpIo): Promise<number> {
  return runCommand('batch', BATCH_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean', default: false } });
    if (wantsHelp(values, BATCH_USAGE, io)) return EXIT_OK;
    const batchId = onePositional(positionals, 'batch id');

    const storage = await resolveStorage(io);
    const batches = connect(storage, (connectionString) => BatchRepository.fromConnectionString(connectionString, io.tables?.batches));
    const batchIndex = connect(storage, (connectionString) =>
      BatchDeviceRepository.fromConnectionString(connectionString, io.tables?.batchDevices),
    );
    const summary = await batchSummary({ batches, batchIndex }, batchId);
    if (summary === undefined) {
      io.stderr(`ztp batch: no batch "${printable(batchId)}" is known in ${storage.description}\n`);
      return EXIT_NOT_FOUND;
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
      lines.push(printable(`  line ${problem.line}  ${problem.serialNumber}  ${problem.state}${why ? `  ${why}` : ''}`));
    }
  }
  return `${lines.join('\n')}\n`;
}

function countsText(counts: Readonly<Record<string, number>>): string | undefined {
  const entries = Object.entries(counts);
  return entries.length === 0 ? undefined : entries.map(([name, count]) => `${printable(name)} ${count}`).join(', ');
}
