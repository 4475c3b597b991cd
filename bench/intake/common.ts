import type { SampleFileOptions } from '../../local/sample-data.js';
import type { BrokerQueueOptions } from '../../local/servicebus-broker/index.js';
import { QUEUES } from '../../shared/messages/index.js';

/** What the intake benchmark's parent and its measuring child processes share. */

export const BENCH_SUPPLIER = {
  id: 'contoso',
  name: 'Contoso Ltd',
  allowedGroupTags: ['MPS-STD', 'MPS-KIOSK'],
  defaultGroupTag: 'MPS-STD',
};

/** 512 MiB, as the parser's own default: the app default (100 MiB) rejects a 50,000-row file of 4 KB hashes. */
export const BENCH_MAX_FILE_BYTES = 512 * 1024 * 1024;

const BAD_ROWS_PER_10K = {
  'invalid-hash': 10,
  'hash-serial-mismatch': 10,
  'duplicate-in-file': 10,
  'group-tag-not-allowed': 10,
  'missing-serial': 5,
  'no-tpm': 5,
  'virtual-machine': 5,
} as const;

/**
 * A supplier delivery as Get-WindowsAutopilotInfo writes it: 5 columns, unquoted, CRLF,
 * ~4 KB hashes, with about half a percent of the rows damaged the way real files are.
 */
export function benchFileOptions(rows: number): SampleFileOptions {
  const scale = rows / 10_000;
  const bad = Object.fromEntries(Object.entries(BAD_ROWS_PER_10K).map(([kind, count]) => [kind, Math.round(count * scale)]));
  return { rows, seed: rows, columns: 5, quoting: 'none', lineEnding: '\r\n', groupTags: BENCH_SUPPLIER.allowedGroupTags, bad };
}

/** The broker's queues as infra creates them (duplicate detection on). */
export function benchQueueOptions(): BrokerQueueOptions[] {
  return Object.values(QUEUES).map((name) => ({
    name,
    maxDeliveryCount: 10,
    lockDurationMs: 30_000,
    duplicateDetectionWindowMs: 10 * 60_000,
  }));
}

export const MIB = 1024 * 1024;

/** Peak resident set of this process so far, in MiB (resourceUsage reports KiB). */
export function peakRssMib(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function currentRssMib(): number {
  return process.memoryUsage().rss / MIB;
}

export const RESULT_PREFIX = 'BENCH_RESULT ';

/** A child's answer: one prefixed JSON line on stdout, so nothing else it prints can be mistaken for it. */
export function emitResult(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}
