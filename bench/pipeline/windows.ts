import type { RequestLogEntry } from '../../local/graph-simulator/index.js';

/**
 * The busiest stretch of `windowMs` in the simulator's request log, on the simulated clock:
 * over any interval (sliding: what Graph's "per 20 seconds" promises nothing beyond) and over
 * windows aligned to multiples of `windowMs` (how the simulator and a fixed-window budget
 * count). Every request sent counts, 429s included, as Graph counts them.
 */

export interface WindowPeak {
  count: number;
  /** Simulated ms at which the interval starts. */
  from: number;
}

export interface BusiestWindows {
  sliding: { requests: WindowPeak; writes: WindowPeak };
  aligned: { requests: WindowPeak; writes: WindowPeak };
}

function slidingPeak(times: readonly number[], windowMs: number): WindowPeak {
  let best: WindowPeak = { count: 0, from: times[0] ?? 0 };
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! >= windowMs) start++;
    if (end - start + 1 > best.count) best = { count: end - start + 1, from: times[start]! };
  }
  return best;
}

function alignedPeak(times: readonly number[], windowMs: number): WindowPeak {
  const perWindow = new Map<number, number>();
  for (const time of times) {
    const index = Math.floor(time / windowMs);
    perWindow.set(index, (perWindow.get(index) ?? 0) + 1);
  }
  let best: WindowPeak = { count: 0, from: 0 };
  for (const [index, count] of perWindow) if (count > best.count) best = { count, from: index * windowMs };
  return best;
}

export function busiestWindows(log: readonly RequestLogEntry[], windowMs: number): BusiestWindows {
  const all = log.map((entry) => entry.simulatedAt).sort((a, b) => a - b);
  const writes = log
    .filter((entry) => entry.method !== 'GET')
    .map((entry) => entry.simulatedAt)
    .sort((a, b) => a - b);
  return {
    sliding: { requests: slidingPeak(all, windowMs), writes: slidingPeak(writes, windowMs) },
    aligned: { requests: alignedPeak(all, windowMs), writes: alignedPeak(writes, windowMs) },
  };
}
