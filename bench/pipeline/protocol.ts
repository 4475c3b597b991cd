/** Messages between the pipeline benchmark and the child process that runs the product. */

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
  fields: Record<string, unknown>;
}

export interface WorkerProgress {
  type: 'progress';
  /** Devices that have reached each state at least once. */
  reached: Record<TimedState, number>;
  /** Devices whose latest state is enrolled, failed or stalled. */
  settled: number;
}

export interface WorkerReady {
  type: 'ready';
  rssMib: number;
}

export interface WorkerFinal {
  type: 'final';
  /** Per state, the real times (ms since epoch) at which each device first reached it, ascending. */
  firstReached: Record<TimedState, number[]>;
  /** Log lines per event name. */
  events: Record<string, number>;
  /** Devices the sweeper put back on the import queue. */
  requeuedDevices: number;
  /** CPU seconds (user + system) the product process used. */
  cpuSeconds: number;
  handlers: Record<string, HandlerTiming>;
  polls: PollRecord[];
  /** Invocations that threw (the message is redelivered or dead-lettered). */
  failedInvocations: number;
  peakRssMib: number;
}

export type WorkerMessage = WorkerReady | WorkerProgress | WorkerFinal;
export type ParentMessage = { type: 'stop' };
