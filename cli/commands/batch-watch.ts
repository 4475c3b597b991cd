import type { DeviceState, WaitStep } from '../../shared/domain/lifecycle.js';
import { DEVICE_STATES } from '../../shared/domain/lifecycle.js';
import type { BatchSummary } from '../../shared/services/status.js';
import { printable } from '../io.js';

/**
 * `ztp batch <batchId> --watch`: the file's progress drawn again every few seconds until it is
 * settled. The drawing is pure (a summary and the counts seen before in, text out); the loop
 * reads, draws and waits, and stops when the batch is `settled` or on Ctrl-C.
 */

/** Devices still waiting for their Autopilot outcome. */
const PENDING: ReadonlySet<DeviceState> = new Set(['received', 'importing']);
/** Problems listed on a frame; the rest are counted. */
const MAX_PROBLEMS_SHOWN = 10;
/** The window devices per minute is measured over (ms). */
const RATE_WINDOW_MS = 60_000;
const BAR_WIDTH = 30;

/** What one read of the batch showed, for the rate. */
export interface WatchSample {
  readonly at: number;
  readonly done: number;
}

export interface Progress {
  readonly total: number;
  /** Devices with an Autopilot outcome (or rejected at intake). */
  readonly done: number;
}

export function progressOf(summary: BatchSummary): Progress {
  let pending = 0;
  for (const state of PENDING) pending += summary.devices.byState[state] ?? 0;
  return { total: summary.devices.total, done: summary.devices.total - pending };
}

/** Devices per minute over the last minute of samples (oldest first); undefined until two samples a second apart. */
export function devicesPerMinute(samples: readonly WatchSample[]): number | undefined {
  const last = samples.at(-1);
  if (last === undefined) return undefined;
  const first = samples.find((sample) => last.at - sample.at <= RATE_WINDOW_MS) ?? last;
  const elapsed = last.at - first.at;
  if (elapsed < 1_000) return undefined;
  return ((last.done - first.done) * 60_000) / elapsed;
}

export function progressBar(done: number, total: number, width = BAR_WIDTH): string {
  const share = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(share * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} (${Math.floor(share * 100)}%)`;
}

/** A rejected row may have no serial at all (`missing-serial`): say so rather than leave a gap. */
export function serialText(serialNumber: string): string {
  return serialNumber === '' ? '(no serial)' : serialNumber;
}

function countsLine(byState: BatchSummary['devices']['byState']): string {
  const parts = DEVICE_STATES.filter((state) => (byState[state] ?? 0) > 0).map((state) => `${state} ${byState[state]}`);
  return parts.length > 0 ? parts.join(', ') : '(no devices)';
}

function waitingLine(waitingFor: BatchSummary['waitingFor']): string | undefined {
  const parts = (Object.entries(waitingFor) as [WaitStep, number][])
    .filter(([, count]) => count > 0)
    .map(([step, count]) => `${step} ${count}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function rateText(rate: number | undefined): string {
  return rate === undefined ? '-' : `${rate.toFixed(1)} devices/min`;
}

/** One full frame, as lines, for a terminal. */
export function watchFrame(summary: BatchSummary, rate: number | undefined, now: Date): string[] {
  const { batch, devices, rejects } = summary;
  const progress = progressOf(summary);
  const status = batch.status === 'settled' ? `settled at ${batch.settledAt ?? '?'}` : batch.status;
  const lines = [
    printable(`Batch ${batch.batchId} (${batch.supplierId}/${batch.fileName}): ${status}`),
    `  ${progressBar(progress.done, progress.total)} with an outcome`,
    `  states:      ${countsLine(devices.byState)}`,
    `  rate:        ${rateText(rate)}`,
    `  waiting for: ${waitingLine(summary.waitingFor) ?? 'nothing'}`,
  ];
  if (summary.moved > 0) lines.push(`  moved:       ${summary.moved} taken by a later file`);
  const problems = rejects.filter((reject) => reject.state === 'stalled' || reject.state === 'failed' || reject.state === 'rejected');
  if (problems.length > 0) {
    lines.push(`Stalled, failed or rejected (${problems.length}):`);
    for (const problem of problems.slice(0, MAX_PROBLEMS_SHOWN)) {
      const why = [problem.reasons.join(', '), problem.note].filter(Boolean).join(' - ');
      lines.push(printable(`  line ${problem.line}  ${serialText(problem.serialNumber)}  ${problem.state}${why ? `  ${why}` : ''}`));
    }
    if (problems.length > MAX_PROBLEMS_SHOWN)
      lines.push(`  ... and ${problems.length - MAX_PROBLEMS_SHOWN} more (ztp batch ${batch.batchId})`);
  }
  lines.push(
    batch.status === 'settled'
      ? `Settled: the report ${batch.reportBlob ?? ''} shows each device's outcome.`
      : `Updated ${now.toISOString()}; Ctrl-C to stop.`,
  );
  return lines;
}

/** One plain line, for a log or a pipe: the time, the status, the progress and the counts. */
export function watchLine(summary: BatchSummary, rate: number | undefined, now: Date): string {
  const progress = progressOf(summary);
  const waiting = waitingLine(summary.waitingFor);
  return printable(
    [
      now.toISOString(),
      summary.batch.status,
      `${progress.done}/${progress.total} with an outcome`,
      countsLine(summary.devices.byState),
      rateText(rate),
      ...(waiting ? [`waiting for ${waiting}`] : []),
    ].join('  '),
  );
}

/** A terminal frame: the cursor home, the screen below cleared, the frame. */
export const REDRAW = '\x1b[H\x1b[J';

export interface WatchOptions {
  readonly intervalMs: number;
  readonly tty: boolean;
  readonly now: () => Date;
  /** Resolves after `ms`, or early when `signal` aborts. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly signal: AbortSignal;
  readonly write: (text: string) => void;
}

export type WatchEnd = 'settled' | 'rejected' | 'interrupted' | 'gone';

/** Reads and draws until the batch is settled, the signal aborts, or the batch is no longer found. */
export async function watchBatch(load: () => Promise<BatchSummary | undefined>, options: WatchOptions): Promise<WatchEnd> {
  const samples: WatchSample[] = [];
  let lastLine: string | undefined;
  for (;;) {
    if (options.signal.aborted) return 'interrupted';
    const summary = await load();
    if (summary === undefined) return 'gone';
    const now = options.now();
    samples.push({ at: now.getTime(), done: progressOf(summary).done });
    while (samples.length > 2 && now.getTime() - samples[1]!.at > RATE_WINDOW_MS) samples.shift();
    const rate = devicesPerMinute(samples);
    if (options.tty) options.write(`${REDRAW}${watchFrame(summary, rate, now).join('\n')}\n`);
    else {
      // A pipe gets a line when something changed (the time and the rate aside), and the last one.
      const line = watchLine(summary, rate, now);
      const key = line.split('  ').slice(1, 4).join('  ');
      if (key !== lastLine) options.write(`${line}\n`);
      lastLine = key;
    }
    // A file rejected as a whole has nothing to wait for.
    if (summary.batch.status === 'settled' || summary.batch.status === 'rejected') return summary.batch.status;
    await options.sleep(options.intervalMs, options.signal);
  }
}
