import { performance } from 'node:perf_hooks';

/**
 * The simulator's one clock. Simulated time runs `timeScale` times faster than real time,
 * and tests may jump it forward; every latency, window and timestamp in the simulator reads it.
 */
export interface SimClock {
  readonly timeScale: number;
  /** Simulated now, in milliseconds since the Unix epoch. */
  now(): number;
  /** Jumps simulated time forward without waiting. */
  advance(simulatedSeconds: number): void;
  /** How many real milliseconds a simulated duration takes. */
  toRealMs(simulatedMs: number): number;
}

export interface SimClockOptions {
  timeScale: number;
  /** Simulated time at start (ms since epoch); defaults to the real time. */
  startAt?: number;
  /** Real monotonic milliseconds; injectable for deterministic tests. */
  realNow?: () => number;
}

export function createSimClock(options: SimClockOptions): SimClock {
  const { timeScale } = options;
  if (!(timeScale > 0) || !Number.isFinite(timeScale)) throw new RangeError(`timeScale must be a positive number, got ${timeScale}`);
  const realNow = options.realNow ?? (() => performance.now());
  const realStart = realNow();
  const simStart = options.startAt ?? Date.now();
  let jumpedMs = 0;
  return {
    timeScale,
    now: () => simStart + (realNow() - realStart) * timeScale + jumpedMs,
    advance(simulatedSeconds: number) {
      if (simulatedSeconds < 0) throw new RangeError('the clock only moves forward');
      jumpedMs += simulatedSeconds * 1000;
    },
    toRealMs: (simulatedMs) => simulatedMs / timeScale,
  };
}
