import type { GraphRequestCounts } from '../../shared/adapters/graph/graph-metrics.js';
import type { TableOperationCounts } from '../../shared/adapters/tables/table-metrics.js';

/** Messages between the pipeline benchmark and the child processes that run the product. */

/** Lifecycle states whose first arrival per device is timed. */
export const TIMED_STATES = ['received', 'importing', 'registered', 'profile-assigned', 'enrolled', 'failed', 'stalled'] as const;
export type TimedState = (typeof TIMED_STATES)[number];

/** Real time spent in one kind of handler invocation. */
export interface HandlerTiming {
  invocations: number;
  totalMs: number;
  maxMs: number;
}

/** One run of a poll, from its log line: what it watched and what it moved. */
export interface PollRecord {
  /** Real ms since epoch when the poll logged its end. */
  at: number;
  tick: 'imports' | 'autopilot';
  /** The product process that ran it (0-based). */
  instance: number;
  fields: Record<string, unknown>;
}

/**
 * One `device.transition` log line: serial, the state reached, real ms since epoch. Every
 * transition is sent (not only first arrivals) because with several instances a device's
 * steps are logged by different processes: only the benchmark sees them all.
 */
export type Transition = [serial: string, to: string, at: number];

export interface WorkerProgress {
  type: 'progress';
  /** Transitions logged since the last progress message. */
  transitions: Transition[];
  /** This process's Table Storage round trips so far (shared/adapters/tables/table-metrics.ts). */
  tableOperations: TableOperationCounts;
}

export interface WorkerReady {
  type: 'ready';
  instance: number;
  rssMib: number;
}

/** Where the V8 heap stood when the process's RSS peaked, from the sampling heap profiler. */
export interface HeapPeak {
  /** The .heapprofile written (open it in Chrome DevTools, Memory tab). */
  file: string;
  /** Real ms since epoch of the sample. */
  at: number;
  rssMib: number;
  heapUsedMib: number;
  /** What V8 has reserved for its heap, used or not. */
  heapTotalMib: number;
  /** Buffers and other memory outside the V8 heap (not in the profile). */
  externalMib: number;
  /** Sampled live bytes by allocation site and by package/folder, largest first. */
  topSites: { site: string; mib: number }[];
  topModules: { module: string; mib: number }[];
}

export interface WorkerFinal {
  type: 'final';
  instance: number;
  /** How its stop went: `stopped`, or why the figures were sent without a clean stop. */
  stopped: string;
  /** Log lines per event name. */
  events: Record<string, number>;
  /** The first warning and error lines, each as event, message and error (the run's oddities, to read without its whole log). */
  warnings: string[];
  /** Devices the sweeper put back on the import queue. */
  requeuedDevices: number;
  /** CPU seconds (user + system) the product process used. */
  cpuSeconds: number;
  handlers: Record<string, HandlerTiming>;
  polls: PollRecord[];
  /** Invocations that threw (the message is redelivered or dead-lettered). */
  failedInvocations: number;
  peakRssMib: number;
  /** Supplier files this process ingested; the others went to other instances. */
  filesTaken: number;
  tableOperations: TableOperationCounts;
  /** The product's own count of the Graph requests it sent (shared/adapters/graph/graph-metrics.ts). */
  graphRequests: GraphRequestCounts;
  heapPeak?: HeapPeak;
}

export type WorkerMessage = WorkerReady | WorkerProgress | WorkerFinal;
export type ParentMessage = { type: 'stop' };
